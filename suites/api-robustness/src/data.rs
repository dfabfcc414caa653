//! What "changes no data" means here: every table of both services' databases, checksummed, and
//! the number of calls payments made to Stripe.

use std::collections::BTreeMap;

use harness::mve::system::Mve;
use sqlx::Row;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// `database.table` → (rows, checksum).
    pub tables: BTreeMap<String, (i64, i64)>,
    pub stripe_calls: usize,
}

impl Fingerprint {
    pub async fn take(mve: &Mve) -> anyhow::Result<Fingerprint> {
        let (indexer, payments) = mve.pools().await?;
        let mut tables = BTreeMap::new();
        for (label, pool) in [("indexer", &indexer), ("payments", &payments)] {
            let names: Vec<String> = sqlx::query_scalar("SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY table_name").fetch_all(pool).await?;
            for t in names {
                let rows: i64 = sqlx::query_scalar(&format!("SELECT CAST(COUNT(*) AS SIGNED) FROM `{t}`")).fetch_one(pool).await?;
                let checksum = sqlx::query(&format!("CHECKSUM TABLE `{t}`")).fetch_one(pool).await?;
                let sum: Option<i64> = checksum.try_get::<Option<i64>, _>(1).or_else(|_| checksum.try_get::<Option<u64>, _>(1).map(|v| v.map(|v| v as i64)))?;
                tables.insert(format!("{label}.{t}"), (rows, sum.unwrap_or(0)));
            }
        }
        Ok(Fingerprint { tables, stripe_calls: mve.stripe.requests("POST", "/v1/").await.len() })
    }

    /// The tables that differ, and how; empty when nothing changed.
    pub fn changes_since(&self, before: &Fingerprint) -> Vec<String> {
        let mut out: Vec<String> =
            self.tables.iter().filter(|(t, now)| before.tables.get(*t) != Some(now)).map(|(t, now)| format!("{t}: {:?} → {now:?} (rows, checksum)", before.tables.get(t))).collect();
        out.extend(before.tables.keys().filter(|t| !self.tables.contains_key(*t)).map(|t| format!("{t}: gone")));
        if self.stripe_calls != before.stripe_calls {
            out.push(format!("Stripe API calls: {} → {}", before.stripe_calls, self.stripe_calls));
        }
        out
    }
}
