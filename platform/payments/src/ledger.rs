//! The credit ledger: purchases, the facts Stripe's events establish about them, and the lines
//! those facts are worth.
//!
//! Order independence: an event only *merges* a fact into its purchase, and both the status and the
//! ledger are functions of the merged facts, never of the order they came in (README: "Order
//! independence", with the merge of every pair of terminal facts). The ledger books the difference
//! between what the merged facts are worth and what is booked already. Refunds and disputes before
//! the success are kept as facts and booked with it; so are events about an intent no purchase is
//! linked to yet (parked until one is).
//!
//! What a purchase owes back (its refunds and what its disputes hold, never more than it credited)
//! only ever moves by the difference the newest facts make. A rise takes what it can from the
//! balance and owes the rest as debt; a fall forgives the purchase's own debt first and gives
//! credits back only beyond it. With that rule the balance and the debt a purchase leaves are
//! functions of what it owes back and of the balance it met, whatever the path there (README:
//! "Debts", with the reasoning).

use serde::{Deserialize, Serialize};
use sqlx::mysql::MySqlPool;
use sqlx::{MySqlConnection, Row};

pub const MIN_CREDITS: i64 = 100;
pub const MAX_CREDITS: i64 = 100_000;

/// What one event says about its purchase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
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
    /// `charge.dispute.created`: one dispute (by its id) of the charge, for `amount`.
    DisputeCreated {
        dispute: String,
        amount: i64,
    },
    /// `charge.dispute.closed` with Stripe's dispute status and its amount then.
    DisputeClosed {
        dispute: String,
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
    /// About an intent no purchase names yet: kept, and merged when one does.
    Parked,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::UnknownPurchase => "unknown_purchase",
            Outcome::FlaggedForReview => "flagged_for_review",
            Outcome::Parked => "parked",
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

/// Whether the event id is recorded already (applied, ignored, parked...): a repeat needs no read
/// of Stripe to be answered (payments.md: "a repeat gets 200 and changes nothing").
pub async fn seen(pool: &MySqlPool, event_id: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query_scalar::<_, i64>("SELECT 1 FROM webhook_events WHERE event_id = ?").bind(event_id).fetch_optional(pool).await?.is_some())
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

/// One event as delivered: its id and type, the Stripe object it is about, and the PaymentIntent
/// it names beside its purchase (a success, failure or cancellation names both).
pub struct Delivered<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub object: &'a str,
    pub intent: Option<&'a str>,
}

/// Applies one event in one transaction: its id is recorded with the ledger lines it causes, so
/// it applies at most once even when two deliveries race (the second waits on the first's row
/// lock, then finds the id taken).
pub async fn apply(pool: &MySqlPool, event: &Delivered<'_>, target: &PurchaseRef, fact: &Fact) -> Result<Outcome, sqlx::Error> {
    let mut tx = pool.begin().await?;
    match sqlx::query("INSERT INTO webhook_events (event_id, type, outcome) VALUES (?, ?, 'pending')").bind(event.id).bind(event.kind).execute(&mut *tx).await {
        Ok(_) => {}
        Err(e) if is_duplicate(&e) => return Ok(Outcome::Duplicate),
        Err(e) => return Err(e),
    }
    let Some(mut p) = Purchase::lock(&mut tx, target).await? else {
        let outcome = match target {
            // Refunds and disputes name only their intent; a purchase whose link to it was lost (a
            // crash between Stripe's answer and the link) gets it from its success, which names
            // the purchase: until then the fact waits here, instead of being consumed for ever.
            PurchaseRef::PaymentIntent(pi) => {
                let fact = serde_json::to_string(fact).expect("a fact serialises");
                sqlx::query("INSERT INTO parked_facts (event_id, payment_intent_id, event_type, object, fact) VALUES (?, ?, ?, ?, ?)")
                    .bind(event.id)
                    .bind(pi)
                    .bind(event.kind)
                    .bind(event.object)
                    .bind(fact)
                    .execute(&mut *tx)
                    .await?;
                Outcome::Parked
            }
            PurchaseRef::Id(_) => Outcome::UnknownPurchase,
        };
        set_outcome(&mut tx, event.id, outcome).await?;
        mve_failpoints::crash_point!("payments::ledger::unknown_before_commit");
        tx.commit().await?;
        mve_failpoints::crash_point!("payments::ledger::unknown_after_commit");
        return Ok(outcome);
    };
    let outcome = p.merge(fact);
    let (player, purchase) = (p.player.clone(), p.id.clone());
    p.book(&mut tx, &Source { player: &player, purchase: &purchase, object: event.object, event: event.id }).await?;
    if let (PurchaseRef::Id(_), Some(intent)) = (target, event.intent) {
        p.link(&mut tx, intent).await?;
    }
    p.store(&mut tx).await?;
    set_outcome(&mut tx, event.id, outcome).await?;
    mve_failpoints::crash_point!("payments::ledger::apply_before_commit");
    tx.commit().await?;
    mve_failpoints::crash_point!("payments::ledger::apply_after_commit");
    Ok(outcome)
}

/// Links a new purchase to the PaymentIntent Stripe created for it (and its client secret), and
/// merges whatever was parked for that intent.
pub async fn link(pool: &MySqlPool, purchase: &str, intent: &str, client_secret: Option<&str>) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("UPDATE purchases SET client_secret = ? WHERE id = ?").bind(client_secret).bind(purchase).execute(&mut *tx).await?;
    if let Some(mut p) = Purchase::lock(&mut tx, &PurchaseRef::Id(purchase.to_string())).await? {
        p.link(&mut tx, intent).await?;
        p.store(&mut tx).await?;
    }
    mve_failpoints::crash_point!("payments::ledger::link_before_commit");
    tx.commit().await?;
    mve_failpoints::crash_point!("payments::purchase::after_link");
    Ok(())
}

async fn set_outcome(conn: &mut MySqlConnection, event_id: &str, outcome: Outcome) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE webhook_events SET outcome = ? WHERE event_id = ?").bind(outcome.as_str()).bind(event_id).execute(conn).await?;
    Ok(())
}

/// One dispute of a purchase's charge, as its events have said so far.
#[derive(Debug, Clone, Default)]
struct Dispute {
    id: String,
    opened_cents: Option<i64>,
    closed_status: Option<String>,
    closed_cents: Option<i64>,
    loss_booked: bool,
}

/// How final a closed status is, so that two of them merge the same in either order: a loss
/// (money gone) over a release, a release over a status that ends nothing.
fn finality(status: &str) -> u8 {
    if status == "lost" {
        3
    } else if RELEASING_DISPUTE_STATUSES.contains(&status) {
        2
    } else {
        1
    }
}

impl Dispute {
    /// What the dispute holds now: nothing once released, else its latest amount (the closed
    /// event's, which is later in Stripe's life than the created one's).
    fn holds(&self) -> i64 {
        match self.closed_status.as_deref() {
            Some(s) if RELEASING_DISPUTE_STATUSES.contains(&s) => 0,
            Some(_) => self.closed_cents.unwrap_or(0),
            None => self.opened_cents.unwrap_or(0),
        }
    }
}

struct Purchase {
    id: String,
    player: String,
    credits: i64,
    payment_intent: Option<String>,
    refunded_cents: i64,
    disputes: Vec<Dispute>,
    booked_purchase: i64,
    booked_refund: i64,
    booked_dispute: i64,
    owed: i64,
    succeeded: bool,
    canceled: bool,
    failure_key: Option<String>,
    failure_reason: Option<String>,
    review_reason: Option<String>,
}

impl Purchase {
    /// The purchase `target` names, locked for this transaction, with its disputes.
    async fn lock(conn: &mut MySqlConnection, target: &PurchaseRef) -> Result<Option<Purchase>, sqlx::Error> {
        let (column, value) = match target {
            PurchaseRef::Id(id) => ("id", id.as_str()),
            PurchaseRef::PaymentIntent(pi) => ("payment_intent_id", pi.as_str()),
        };
        let row = sqlx::query(&format!(
            "SELECT id, player_id, credits, payment_intent_id, refunded_cents, booked_purchase, booked_refund, booked_dispute, owed, \
             succeeded, canceled, failure_key, failure_reason, review_reason FROM purchases WHERE {column} = ? FOR UPDATE"
        ))
        .bind(value)
        .fetch_optional(&mut *conn)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let id: String = row.try_get("id")?;
        let disputes = sqlx::query("SELECT dispute_id, opened_cents, closed_status, closed_cents, loss_booked FROM purchase_disputes WHERE purchase_id = ? ORDER BY dispute_id")
            .bind(&id)
            .fetch_all(&mut *conn)
            .await?
            .iter()
            .map(|r| {
                Ok(Dispute {
                    id: r.try_get("dispute_id")?,
                    opened_cents: r.try_get("opened_cents")?,
                    closed_status: r.try_get("closed_status")?,
                    closed_cents: r.try_get("closed_cents")?,
                    loss_booked: r.try_get::<i8, _>("loss_booked")? != 0,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Some(Purchase {
            id,
            player: row.try_get("player_id")?,
            credits: row.try_get("credits")?,
            payment_intent: row.try_get("payment_intent_id")?,
            refunded_cents: row.try_get("refunded_cents")?,
            disputes,
            booked_purchase: row.try_get("booked_purchase")?,
            booked_refund: row.try_get("booked_refund")?,
            booked_dispute: row.try_get("booked_dispute")?,
            owed: row.try_get("owed")?,
            succeeded: row.try_get::<i8, _>("succeeded")? != 0,
            canceled: row.try_get::<i8, _>("canceled")? != 0,
            failure_key: row.try_get("failure_key")?,
            failure_reason: row.try_get("failure_reason")?,
            review_reason: row.try_get("review_reason")?,
        }))
    }

    async fn store(&self, conn: &mut MySqlConnection) -> Result<(), sqlx::Error> {
        sqlx::query(
            "UPDATE purchases SET status = ?, payment_intent_id = ?, refunded_cents = ?, booked_purchase = ?, booked_refund = ?, booked_dispute = ?, owed = ?, \
             review_reason = ?, failure_reason = ?, succeeded = ?, canceled = ?, failure_key = ? WHERE id = ?",
        )
        .bind(self.status())
        .bind(&self.payment_intent)
        .bind(self.refunded_cents)
        .bind(self.booked_purchase)
        .bind(self.booked_refund)
        .bind(self.booked_dispute)
        .bind(self.owed)
        .bind(&self.review_reason)
        .bind(&self.failure_reason)
        .bind(self.succeeded as i8)
        .bind(self.canceled as i8)
        .bind(&self.failure_key)
        .bind(&self.id)
        .execute(&mut *conn)
        .await?;
        for d in &self.disputes {
            sqlx::query(
                "INSERT INTO purchase_disputes (purchase_id, dispute_id, opened_cents, closed_status, closed_cents, loss_booked) VALUES (?, ?, ?, ?, ?, ?) \
                 ON DUPLICATE KEY UPDATE opened_cents = VALUES(opened_cents), closed_status = VALUES(closed_status), closed_cents = VALUES(closed_cents), loss_booked = VALUES(loss_booked)",
            )
            .bind(&self.id)
            .bind(&d.id)
            .bind(d.opened_cents)
            .bind(&d.closed_status)
            .bind(d.closed_cents)
            .bind(d.loss_booked as i8)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    /// Names the intent (if the purchase names none yet), then merges and books what was parked
    /// for it, each parked event then recorded with its own outcome.
    async fn link(&mut self, conn: &mut MySqlConnection, intent: &str) -> Result<(), sqlx::Error> {
        if self.payment_intent.is_some() {
            return Ok(());
        }
        self.payment_intent = Some(intent.to_string());
        let parked = sqlx::query("SELECT event_id, object, fact FROM parked_facts WHERE payment_intent_id = ? ORDER BY event_id FOR UPDATE").bind(intent).fetch_all(&mut *conn).await?;
        for row in parked {
            let (event, object, fact): (String, String, String) = (row.try_get("event_id")?, row.try_get("object")?, row.try_get("fact")?);
            let fact: Fact = serde_json::from_str(&fact).map_err(|e| sqlx::Error::Decode(Box::new(e)))?;
            let outcome = self.merge(&fact);
            let (player, purchase) = (self.player.clone(), self.id.clone());
            self.book(conn, &Source { player: &player, purchase: &purchase, object: &object, event: &event }).await?;
            sqlx::query("DELETE FROM parked_facts WHERE event_id = ?").bind(&event).execute(&mut *conn).await?;
            set_outcome(conn, &event, outcome).await?;
        }
        Ok(())
    }

    fn status(&self) -> &'static str {
        status_of(self.succeeded, self.review_reason.is_some(), self.canceled, self.failure_reason.is_some())
    }

    fn dispute(&mut self, id: &str) -> &mut Dispute {
        if let Some(i) = self.disputes.iter().position(|d| d.id == id) {
            return &mut self.disputes[i];
        }
        self.disputes.push(Dispute { id: id.to_string(), ..Dispute::default() });
        self.disputes.last_mut().expect("just pushed")
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
            Fact::DisputeCreated { dispute, amount } => {
                let d = self.dispute(dispute);
                d.opened_cents = Some(d.opened_cents.unwrap_or(0).max(*amount));
            }
            Fact::DisputeClosed { dispute, status, amount } => {
                let d = self.dispute(dispute);
                let newer = match (&d.closed_status, d.closed_cents) {
                    (None, _) => true,
                    (Some(old), cents) => (finality(status), *amount) > (finality(old), cents.unwrap_or(0)),
                };
                if newer {
                    d.closed_status = Some(status.clone());
                    d.closed_cents = Some(*amount);
                }
            }
        }
        Outcome::Applied
    }

    /// Books the difference between what the facts are worth and what is booked: the purchase
    /// first, then what it owes back for refunds, then for disputes (never more in all than it
    /// credited), then a DISPUTE_LOSS line of 0 for each lost dispute.
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
            self.owe_more(conn, s, refund - self.booked_refund, "REFUND").await?;
            self.booked_refund = refund;
        }
        let disputed = self.disputes.iter().map(Dispute::holds).sum::<i64>().min(self.credits - refund);
        if disputed > self.booked_dispute {
            self.owe_more(conn, s, disputed - self.booked_dispute, "DISPUTE_HOLD").await?;
        } else if disputed < self.booked_dispute {
            self.owe_less(conn, s, self.booked_dispute - disputed, "DISPUTE_RELEASE").await?;
        }
        self.booked_dispute = disputed;
        for i in 0..self.disputes.len() {
            if self.disputes[i].closed_status.as_deref() == Some("lost") && !self.disputes[i].loss_booked {
                // The hold already took the credits: the loss line makes it final, for 0.
                line(conn, s, 0, "DISPUTE_LOSS").await?;
                self.disputes[i].loss_booked = true;
            }
        }
        Ok(())
    }

    /// The purchase owes `amount` more: taken from the balance as far as it goes, the rest owed.
    async fn owe_more(&mut self, conn: &mut MySqlConnection, s: &Source<'_>, amount: i64, kind: &str) -> Result<(), sqlx::Error> {
        let taken = debit(conn, s, amount, kind).await?;
        self.owed += amount - taken;
        Ok(())
    }

    /// The purchase owes `amount` less: its own debt is forgiven first, and only what is left comes
    /// back as credits. Credits given back while its debt stays would make the result depend on
    /// which event met the short balance first (review S1, regression_p1_mve23).
    async fn owe_less(&mut self, conn: &mut MySqlConnection, s: &Source<'_>, amount: i64, kind: &str) -> Result<(), sqlx::Error> {
        let forgiven = amount.min(self.owed);
        if forgiven > 0 {
            debt(conn, s, -forgiven, kind).await?;
            self.owed -= forgiven;
        }
        if amount > forgiven {
            credit(conn, s, amount - forgiven, kind).await?;
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
