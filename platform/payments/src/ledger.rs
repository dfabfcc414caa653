//! The credit ledger: purchases, the facts Stripe's events establish about them, and the lines
//! those facts are worth.
//!
//! Order independence: an event only *merges* a fact into its purchase, and both the status and the
//! ledger are functions of the merged facts, never of the order they came in (README: "Order
//! independence", with the merge of every pair of terminal facts). The ledger books the difference
//! between what the merged facts are worth and what is booked already. Refunds and disputes before
//! the success are kept as facts and booked with it.

use sqlx::mysql::MySqlPool;
use sqlx::{MySqlConnection, Row};

pub const MIN_CREDITS: i64 = 100;
pub const MAX_CREDITS: i64 = 100_000;

/// What one event says about its purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// `payment_intent.succeeded`, with the amount, currency and `metadata.credits` of the
    /// current PaymentIntent.
    Succeeded {
        amount_received: i64,
        currency: String,
        metadata_credits: Option<i64>,
    },
    /// `key` orders failures: the latest (event created, event id) names the reason.
    Failed {
        reason: String,
        key: String,
    },
    Canceled,
    /// Cumulative: the charge's `amount_refunded`.
    Refunded {
        amount_refunded: i64,
    },
    DisputeCreated {
        amount: i64,
    },
    /// `charge.dispute.closed` with Stripe's dispute status.
    DisputeClosed {
        status: String,
        amount: i64,
    },
}

/// Dispute statuses that give the held credits back: `won`, and the end of an inquiry that never
/// became a chargeback (`warning_closed`; Stripe takes no funds for inquiries) or that Stripe
/// prevented (`prevented`).
pub const RELEASING_DISPUTE_STATUSES: [&str; 3] = ["won", "warning_closed", "prevented"];

/// What a purchase's status is, given its facts; the same facts give the same status in any order.
/// A verified, matching success wins over everything (the money arrived); a mismatched success is
/// REVIEW unless a matching one is known; a cancellation wins over a failure (it is the intent's
/// last word); a failure wins over nothing.
pub fn status_of(succeeded: bool, review: bool, canceled: bool, failed: bool) -> &'static str {
    if succeeded {
        "SUCCEEDED"
    } else if review {
        "REVIEW"
    } else if canceled {
        "CANCELLED"
    } else if failed {
        "FAILED"
    } else {
        "PENDING"
    }
}

/// How an event names its purchase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PurchaseRef {
    Id(String),
    PaymentIntent(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Applied,
    Duplicate,
    Ignored,
    UnknownPurchase,
    FlaggedForReview,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::UnknownPurchase => "unknown_purchase",
            Outcome::FlaggedForReview => "flagged_for_review",
        }
    }
}

/// Where a ledger line comes from.
struct Source<'a> {
    player: &'a str,
    purchase: &'a str,
    object: &'a str,
    event: &'a str,
}

fn is_duplicate(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23000"))
}

/// Records an event that changes nothing (unknown type): once, like every other.
pub async fn record_ignored(pool: &MySqlPool, event_id: &str, event_type: &str) -> Result<Outcome, sqlx::Error> {
    match sqlx::query("INSERT INTO webhook_events (event_id, type, outcome) VALUES (?, ?, 'ignored')").bind(event_id).bind(event_type).execute(pool).await {
        Ok(_) => {
            mve_failpoints::crash_point!("payments::ledger::ignored_recorded");
            Ok(Outcome::Ignored)
        }
        Err(e) if is_duplicate(&e) => Ok(Outcome::Duplicate),
        Err(e) => Err(e),
    }
}

/// Applies one event in one transaction: its id is recorded with the ledger lines it causes, so
/// it applies at most once even when two deliveries race (the second waits on the first's row
/// lock, then finds the id taken).
pub async fn apply(pool: &MySqlPool, event_id: &str, event_type: &str, object: &str, target: &PurchaseRef, fact: &Fact) -> Result<Outcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    match sqlx::query("INSERT INTO webhook_events (event_id, type, outcome) VALUES (?, ?, 'pending')").bind(event_id).bind(event_type).execute(&mut *tx).await {
        Ok(_) => {}
        Err(e) if is_duplicate(&e) => return Ok(Outcome::Duplicate),
        Err(e) => return Err(e),
    }
    let (column, value) = match target {
        PurchaseRef::Id(id) => ("id", id.as_str()),
        PurchaseRef::PaymentIntent(pi) => ("payment_intent_id", pi.as_str()),
    };
    let row = sqlx::query(&format!(
        "SELECT id, player_id, credits, status, refunded_cents, dispute_status, dispute_cents, booked_purchase, booked_refund, booked_hold, hold_taken, booked_loss, \
         succeeded, canceled, failure_key, failure_reason, review_reason, booked_release FROM purchases WHERE {column} = ? FOR UPDATE"
    ))
    .bind(value)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(row) = row else {
        set_outcome(&mut tx, event_id, Outcome::UnknownPurchase).await?;
        mve_failpoints::crash_point!("payments::ledger::unknown_before_commit");
        tx.commit().await?;
        mve_failpoints::crash_point!("payments::ledger::unknown_after_commit");
        return Ok(Outcome::UnknownPurchase);
    };
    let mut p = Purchase {
        id: row.try_get("id")?,
        player: row.try_get("player_id")?,
        credits: row.try_get("credits")?,
        refunded_cents: row.try_get("refunded_cents")?,
        dispute_status: row.try_get("dispute_status")?,
        dispute_cents: row.try_get("dispute_cents")?,
        booked_purchase: row.try_get("booked_purchase")?,
        booked_refund: row.try_get("booked_refund")?,
        booked_hold: row.try_get("booked_hold")?,
        hold_taken: row.try_get("hold_taken")?,
        booked_loss: row.try_get::<i8, _>("booked_loss")? != 0,
        succeeded: row.try_get::<i8, _>("succeeded")? != 0,
        canceled: row.try_get::<i8, _>("canceled")? != 0,
        failure_key: row.try_get("failure_key")?,
        failure_reason: row.try_get("failure_reason")?,
        review_reason: row.try_get("review_reason")?,
        booked_release: row.try_get::<i8, _>("booked_release")? != 0,
    };
    let outcome = p.merge(fact);
    let source = Source { player: &p.player.clone(), purchase: &p.id.clone(), object, event: event_id };
    p.book(&mut tx, &source).await?;
    sqlx::query(
        "UPDATE purchases SET status = ?, refunded_cents = ?, dispute_status = ?, dispute_cents = ?, booked_purchase = ?, booked_refund = ?, \
         booked_hold = ?, hold_taken = ?, booked_loss = ?, review_reason = ?, failure_reason = ?, succeeded = ?, canceled = ?, failure_key = ?, \
         booked_release = ? WHERE id = ?",
    )
    .bind(p.status())
    .bind(p.refunded_cents)
    .bind(&p.dispute_status)
    .bind(p.dispute_cents)
    .bind(p.booked_purchase)
    .bind(p.booked_refund)
    .bind(p.booked_hold)
    .bind(p.hold_taken)
    .bind(p.booked_loss as i8)
    .bind(&p.review_reason)
    .bind(&p.failure_reason)
    .bind(p.succeeded as i8)
    .bind(p.canceled as i8)
    .bind(&p.failure_key)
    .bind(p.booked_release as i8)
    .bind(&p.id)
    .execute(&mut *tx)
    .await?;
    set_outcome(&mut tx, event_id, outcome).await?;
    mve_failpoints::crash_point!("payments::ledger::apply_before_commit");
    tx.commit().await?;
    mve_failpoints::crash_point!("payments::ledger::apply_after_commit");
    Ok(outcome)
}

async fn set_outcome(conn: &mut MySqlConnection, event_id: &str, outcome: Outcome) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_events SET outcome = ? WHERE event_id = ?").bind(outcome.as_str()).bind(event_id).execute(conn).await?;
    Ok(())
}

struct Purchase {
    id: String,
    player: String,
    credits: i64,
    refunded_cents: i64,
    dispute_status: Option<String>,
    dispute_cents: i64,
    booked_purchase: i64,
    booked_refund: i64,
    booked_hold: i64,
    hold_taken: i64,
    booked_loss: bool,
    succeeded: bool,
    canceled: bool,
    failure_key: Option<String>,
    failure_reason: Option<String>,
    review_reason: Option<String>,
    booked_release: bool,
}

impl Purchase {
    fn status(&self) -> &'static str {
        status_of(self.succeeded, self.review_reason.is_some(), self.canceled, self.failure_reason.is_some())
    }

    fn merge(&mut self, fact: &Fact) -> Outcome {
        match fact {
            Fact::Succeeded { amount_received, currency, metadata_credits } => {
                // payments.md: the amount received must equal metadata.credits cents, in usd. The
                // intent's metadata must also name this purchase's credits: we credit those.
                let matches = Some(*amount_received) == *metadata_credits && *metadata_credits == Some(self.credits) && currency == "usd";
                if matches {
                    self.succeeded = true;
                } else if self.review_reason.is_none() {
                    let meta = metadata_credits.map_or("none".to_string(), |c| c.to_string());
                    self.review_reason = Some(format!("received {amount_received} {currency}; metadata.credits {meta}; the purchase is {} credits ({} usd cents)", self.credits, self.credits));
                }
                if self.status() == "REVIEW" {
                    return Outcome::FlaggedForReview;
                }
            }
            Fact::Failed { reason, key } => {
                if self.failure_key.as_deref().is_none_or(|k| k < key.as_str()) {
                    self.failure_key = Some(key.clone());
                    self.failure_reason = Some(reason.clone());
                }
            }
            Fact::Canceled => self.canceled = true,
            Fact::Refunded { amount_refunded } => self.refunded_cents = self.refunded_cents.max(*amount_refunded),
            Fact::DisputeCreated { amount } => {
                if self.dispute_status.is_none() {
                    self.dispute_status = Some("open".into());
                    self.dispute_cents = *amount;
                }
            }
            Fact::DisputeClosed { status, amount } => {
                if RELEASING_DISPUTE_STATUSES.contains(&status.as_str()) || status == "lost" {
                    self.dispute_status = Some(status.clone());
                } else if self.dispute_status.is_none() {
                    // Closed, but with a status that ends nothing: the hold stays.
                    self.dispute_status = Some("open".into());
                }
                self.dispute_cents = *amount;
            }
        }
        Outcome::Applied
    }

    /// Books the difference between what the facts are worth and what is booked, always in the
    /// same order: purchase, refund, hold, release, loss.
    async fn book(&mut self, conn: &mut MySqlConnection, s: &Source<'_>) -> Result<(), sqlx::Error> {
        if self.status() != "SUCCEEDED" {
            return Ok(());
        }
        if self.booked_purchase < self.credits {
            credit(conn, s, self.credits - self.booked_purchase, "PURCHASE").await?;
            self.booked_purchase = self.credits;
        }
        let refund = self.refunded_cents.min(self.credits);
        if refund > self.booked_refund {
            debit(conn, s, refund - self.booked_refund, "REFUND").await?;
            self.booked_refund = refund;
        }
        if self.dispute_status.is_some() && !self.booked_release && self.dispute_cents > self.booked_hold {
            self.hold_taken += debit(conn, s, self.dispute_cents - self.booked_hold, "DISPUTE_HOLD").await?;
            self.booked_hold = self.dispute_cents;
        }
        let released = self.dispute_status.as_deref().is_some_and(|d| RELEASING_DISPUTE_STATUSES.contains(&d));
        if released && !self.booked_release {
            // The hold is released completely: what it took comes back, and what it could not take
            // (a debt line) is forgiven by a debt line of the opposite sign.
            if self.hold_taken > 0 {
                credit(conn, s, self.hold_taken, "DISPUTE_RELEASE").await?;
            }
            let owed = self.booked_hold - self.hold_taken;
            if owed > 0 {
                debt(conn, s, -owed, "DISPUTE_RELEASE").await?;
            }
            self.hold_taken = 0;
            self.booked_release = true;
        }
        if self.dispute_status.as_deref() == Some("lost") && !self.booked_loss {
            // The hold already took the credits: the loss line makes it final, for 0.
            line(conn, s, 0, "DISPUTE_LOSS").await?;
            self.booked_loss = true;
        }
        Ok(())
    }
}

async fn line(conn: &mut MySqlConnection, s: &Source<'_>, amount: i64, kind: &str) -> Result<(), sqlx::Error> {
    sourced_row(conn, "ledger", "amount", s, amount, kind).await
}

/// One row of `ledger` or `debts`: both carry the same source columns, so an entry can always be
/// traced to the purchase, the Stripe object and the event that caused it.
async fn sourced_row(conn: &mut MySqlConnection, table: &str, column: &str, s: &Source<'_>, value: i64, kind: &str) -> Result<(), sqlx::Error> {
    let sql = format!("INSERT INTO {table} (player_id, {column}, kind, purchase_id, stripe_object, stripe_event) VALUES (?, ?, ?, ?, ?, ?)");
    sqlx::query(&sql).bind(s.player).bind(value).bind(kind).bind(s.purchase).bind(s.object).bind(s.event).execute(conn).await?;
    Ok(())
}

async fn credit(conn: &mut MySqlConnection, s: &Source<'_>, amount: i64, kind: &str) -> Result<(), sqlx::Error> {
    line(conn, s, amount, kind).await?;
    sqlx::query("INSERT INTO balances (player_id, credits) VALUES (?, ?) ON DUPLICATE KEY UPDATE credits = credits + VALUES(credits)").bind(s.player).bind(amount).execute(conn).await?;
    Ok(())
}

/// Takes up to `amount` from the balance (never below zero); the rest becomes a debt line.
/// Returns what it took.
async fn debit(conn: &mut MySqlConnection, s: &Source<'_>, amount: i64, kind: &str) -> Result<i64, sqlx::Error> {
    let balance: Option<i64> = sqlx::query_scalar("SELECT credits FROM balances WHERE player_id = ? FOR UPDATE").bind(s.player).fetch_optional(&mut *conn).await?;
    let take = amount.min(balance.unwrap_or(0).max(0));
    if take > 0 {
        line(conn, s, -take, kind).await?;
        sqlx::query("UPDATE balances SET credits = credits - ? WHERE player_id = ?").bind(take).bind(s.player).execute(&mut *conn).await?;
    }
    if amount > take {
        debt(conn, s, amount - take, kind).await?;
    }
    Ok(take)
}

/// A debt line: a shortfall owed (positive) or forgiven (negative).
async fn debt(conn: &mut MySqlConnection, s: &Source<'_>, shortfall: i64, kind: &str) -> Result<(), sqlx::Error> {
    sourced_row(conn, "debts", "shortfall", s, shortfall, kind).await
}

/// Spends credits in the game (a SPEND line); refuses to go below zero.
pub async fn spend(pool: &MySqlPool, player: &str, credits: i64) -> Result<Result<i64, i64>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let balance: i64 = sqlx::query_scalar("SELECT credits FROM balances WHERE player_id = ? FOR UPDATE").bind(player).fetch_optional(&mut *tx).await?.unwrap_or(0);
    if balance < credits {
        return Ok(Err(balance));
    }
    sqlx::query("INSERT INTO ledger (player_id, amount, kind) VALUES (?, ?, 'SPEND')").bind(player).bind(-credits).execute(&mut *tx).await?;
    sqlx::query("UPDATE balances SET credits = credits - ? WHERE player_id = ?").bind(credits).bind(player).execute(&mut *tx).await?;
    mve_failpoints::crash_point!("payments::ledger::spend_before_commit");
    tx.commit().await?;
    mve_failpoints::crash_point!("payments::ledger::spend_after_commit");
    Ok(Ok(balance - credits))
}
