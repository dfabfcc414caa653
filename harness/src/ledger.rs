//! The payments ledger's invariants, read from the reference service's tables directly (not from
//! its API): what the stripe-webhooks tests and the chaos checker hold every run to.

use sqlx::Row;

/// A player's balance, ledger sum and debt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Balance {
    pub balance: i64,
    pub ledger_sum: i64,
    pub debt: i64,
}

/// A player's balance, ledger sum and debt read from the tables, not from the service; one
/// statement, so one read view (a commit between three reads once made the soak's periodic check
/// see a balance that was not its own ledger sum while the load ran).
pub async fn table_balance(pool: &sqlx::MySqlPool, player: &str) -> anyhow::Result<Balance> {
    let mut conn = pool.acquire().await?;
    balance_in(&mut conn, player).await
}

async fn balance_in(conn: &mut sqlx::MySqlConnection, player: &str) -> anyhow::Result<Balance> {
    let row = sqlx::query(
        "SELECT (SELECT credits FROM balances WHERE player_id = ?), \
           (SELECT CAST(COALESCE(SUM(amount), 0) AS SIGNED) FROM ledger WHERE player_id = ?), \
           (SELECT CAST(COALESCE(SUM(shortfall), 0) AS SIGNED) FROM debts WHERE player_id = ?)",
    )
    .bind(player)
    .bind(player)
    .bind(player)
    .fetch_one(conn)
    .await?;
    let balance: Option<i64> = row.try_get(0)?;
    Ok(Balance { balance: balance.unwrap_or(0), ledger_sum: row.try_get(1)?, debt: row.try_get(2)? })
}

/// The ledger's invariants, read from the database directly: a stored balance equals the sum of its
/// lines and is never negative; no player owes a negative debt; every line an event caused names an
/// event recorded as applied, and no event is left half-applied; each purchase has at most one
/// PURCHASE line, worth its credits, and only a SUCCEEDED purchase has lines at all; refunds never
/// take back more than was credited.
///
/// All of it is read in one consistent snapshot (a read-only transaction), so that it can run while
/// the service keeps writing.
pub async fn check_tables(pool: &sqlx::MySqlPool, players: &[String]) -> anyhow::Result<()> {
    let mut conn = pool.acquire().await?;
    sqlx::query("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY").execute(&mut *conn).await?;
    let checked = invariants(&mut conn, players).await;
    sqlx::query("COMMIT").execute(&mut *conn).await?;
    checked
}

async fn invariants(conn: &mut sqlx::MySqlConnection, players: &[String]) -> anyhow::Result<()> {
    for p in players {
        let t = balance_in(&mut *conn, p).await?;
        anyhow::ensure!(t.balance == t.ledger_sum && t.balance >= 0, "{p}: balances row {} but ledger lines sum to {}", t.balance, t.ledger_sum);
        anyhow::ensure!(t.debt >= 0, "{p}: debt lines sum to {} (more forgiven than owed)", t.debt);
    }
    let orphans: Vec<(String, String)> = sqlx::query_as(
        "SELECT l.kind, COALESCE(l.stripe_event, '') FROM ledger l LEFT JOIN webhook_events w ON w.event_id = l.stripe_event \
         WHERE l.stripe_event IS NOT NULL AND w.event_id IS NULL",
    )
    .fetch_all(&mut *conn)
    .await?;
    anyhow::ensure!(orphans.is_empty(), "ledger lines whose event is not in the record of applied events (payments.md: the record and the lines are one transaction): {orphans:?}");
    let pending: Vec<String> = sqlx::query_scalar("SELECT event_id FROM webhook_events WHERE outcome = 'pending'").fetch_all(&mut *conn).await?;
    anyhow::ensure!(pending.is_empty(), "events recorded but never finished: {pending:?}");
    // Only the purchases that break a rule come back: the ledger summed per purchase first (the
    // ledger has no index on purchase_id, and a join of the two whole tables cost the soak 96 s at
    // 39 minutes, measured 2026-12-03), and the rules below applied in SQL too, so that neither the
    // check's time nor the checker's memory grows with every purchase ever made.
    let rows = sqlx::query(
        "SELECT p.id, p.status, p.credits, \
           COALESCE(l.purchase_lines, 0), COALESCE(l.purchased, 0), COALESCE(l.taken, 0), COALESCE(l.line_count, 0) \
         FROM purchases p LEFT JOIN ( \
           SELECT purchase_id, \
             CAST(SUM(CASE WHEN kind = 'PURCHASE' THEN 1 ELSE 0 END) AS SIGNED) AS purchase_lines, \
             CAST(SUM(CASE WHEN kind = 'PURCHASE' THEN amount ELSE 0 END) AS SIGNED) AS purchased, \
             CAST(SUM(CASE WHEN kind = 'REFUND' THEN amount ELSE 0 END) AS SIGNED) AS taken, \
             CAST(COUNT(*) AS SIGNED) AS line_count \
           FROM ledger WHERE purchase_id IS NOT NULL GROUP BY purchase_id) l ON l.purchase_id = p.id \
         WHERE (p.status = 'SUCCEEDED' AND (COALESCE(l.purchase_lines, 0) <> 1 OR COALESCE(l.purchased, 0) <> p.credits OR -COALESCE(l.taken, 0) > p.credits)) \
            OR (p.status <> 'SUCCEEDED' AND COALESCE(l.line_count, 0) <> 0) \
         LIMIT 20",
    )
    .fetch_all(&mut *conn)
    .await?;
    for r in rows {
        let (id, status, credits): (String, String, i64) = (r.get(0), r.get(1), r.get(2));
        let (purchase_lines, purchased, taken, lines): (i64, i64, i64, i64) = (r.get(3), r.get(4), r.get(5), r.get(6));
        if status == "SUCCEEDED" {
            anyhow::ensure!(purchase_lines == 1 && purchased == credits, "purchase {id}: {purchase_lines} PURCHASE lines worth {purchased}, want one of {credits}");
            anyhow::ensure!(-taken <= credits, "purchase {id}: refunds took {} of {credits} credits", -taken);
        } else {
            anyhow::ensure!(lines == 0, "purchase {id} is {status} but has {lines} ledger lines");
        }
    }
    Ok(())
}
