//! Single sign-on: the `state` values Qiao hands out (each used at most once, before it expires) and the codes
//! exchanged (never twice on one connection). Only sha256 digests of states and codes are stored: a copy of the
//! file cannot replay them.

use std::sync::Arc;

use anyhow::Result;
use rusqlite::{OptionalExtension, params};

use super::Db;

/// A state as it was handed out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsoState {
    pub connection: String,
    pub redirect_uri: String,
    pub flow: Option<String>,
    pub created_ms: i64,
    pub expires_ms: i64,
}

/// What checking a state (and the code presented with it) found. Only [`SsoCheck::Valid`] and
/// [`SsoCheck::CodeUsed`] consume the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SsoCheck {
    /// The state was unused, current, for this connection and redirect URI; it is now used, and the code
    /// recorded.
    Valid(SsoState),
    /// No such state (never handed out, or pruned long after it expired).
    Unknown,
    /// Handed out for another connection.
    OtherConnection,
    /// Handed out for another redirect URI than the one the exchange names.
    OtherRedirect,
    Expired,
    /// Already exchanged once.
    Used,
    /// The state was valid (and is now used up), but this code was exchanged before on this connection.
    CodeUsed,
}

impl Db {
    /// Records a state handed out (by its digest), and forgets states that expired before `prune_before_ms`
    /// and codes used before `prune_codes_before_ms`.
    pub async fn sso_add_state(
        self: &Arc<Self>,
        state_hash: String,
        state: SsoState,
        prune_before_ms: i64,
        prune_codes_before_ms: i64,
    ) -> Result<()> {
        self.run(move |c| {
            let tx = crate::writer::atomic(c)?;
            tx.execute("DELETE FROM sso_states WHERE expires_ms < ?1", [prune_before_ms])?;
            tx.execute("DELETE FROM sso_codes WHERE used_ms < ?1", [prune_codes_before_ms])?;
            tx.execute(
                "INSERT INTO sso_states (state, connection, redirect_uri, flow, created_ms, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    state_hash,
                    state.connection,
                    state.redirect_uri,
                    state.flow,
                    state.created_ms,
                    state.expires_ms
                ],
            )?;
            tx.commit()
        })
        .await
    }

    /// Checks a state for an exchange on `connection` and, when it holds, marks it used and records the code's
    /// digest, in one transaction: of two exchanges racing with one state (or one code), only one gets through.
    /// `redirect_uri`, when the exchange names one, must be the one the state was handed out for.
    pub async fn sso_use_state(
        self: &Arc<Self>,
        state_hash: String,
        connection: String,
        redirect_uri: Option<String>,
        code_hash: String,
        now: i64,
    ) -> Result<SsoCheck> {
        self.run(move |c| {
            let tx = crate::writer::atomic(c)?;
            let row = tx
                .query_row(
                    "SELECT connection, redirect_uri, flow, created_ms, expires_ms, used_ms FROM sso_states
                     WHERE state = ?1",
                    [&state_hash],
                    |r| {
                        Ok((
                            SsoState {
                                connection: r.get(0)?,
                                redirect_uri: r.get(1)?,
                                flow: r.get(2)?,
                                created_ms: r.get(3)?,
                                expires_ms: r.get(4)?,
                            },
                            r.get::<_, Option<i64>>(5)?,
                        ))
                    },
                )
                .optional()?;
            let Some((state, used_ms)) = row else { return Ok(SsoCheck::Unknown) };
            if state.connection != connection {
                return Ok(SsoCheck::OtherConnection);
            }
            if used_ms.is_some() {
                return Ok(SsoCheck::Used);
            }
            if state.expires_ms <= now {
                return Ok(SsoCheck::Expired);
            }
            if redirect_uri.is_some_and(|r| r != state.redirect_uri) {
                return Ok(SsoCheck::OtherRedirect);
            }
            let marked = tx.execute(
                "UPDATE sso_states SET used_ms = ?2 WHERE state = ?1 AND used_ms IS NULL",
                params![state_hash, now],
            )?;
            if marked != 1 {
                return Ok(SsoCheck::Used);
            }
            let recorded = tx.execute(
                "INSERT INTO sso_codes (connection, code_hash, used_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (connection, code_hash) DO NOTHING",
                params![connection, code_hash, now],
            )?;
            tx.commit()?;
            Ok(if recorded == 1 { SsoCheck::Valid(state) } else { SsoCheck::CodeUsed })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::now_ms;
    use qiao_secrets::MasterKey;

    fn state(connection: &str, expires_ms: i64) -> SsoState {
        SsoState {
            connection: connection.into(),
            redirect_uri: "https://oa.example.com/cb".into(),
            flow: None,
            created_ms: now_ms(),
            expires_ms,
        }
    }

    #[tokio::test]
    async fn a_state_is_used_once_and_a_code_once_per_connection() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("q.db"), MasterKey::generate()).unwrap();
        let now = now_ms();
        let later = now + 60_000;
        for (s, c) in [("s1", "a"), ("s2", "a"), ("s3", "b"), ("s4", "a")] {
            db.sso_add_state(s.into(), state(c, later), 0, 0)
                .await
                .unwrap();
        }
        db.sso_add_state("old".into(), state("a", now - 1), 0, 0)
            .await
            .unwrap();
        let use_ = |s: &str, c: &str, r: Option<&str>, code: &str| {
            db.sso_use_state(s.into(), c.into(), r.map(Into::into), code.into(), now)
        };

        assert_eq!(
            use_("nope", "a", None, "k1").await.unwrap(),
            SsoCheck::Unknown
        );
        assert_eq!(
            use_("s3", "a", None, "k1").await.unwrap(),
            SsoCheck::OtherConnection
        );
        assert_eq!(
            use_("s1", "a", Some("https://evil.example/cb"), "k1")
                .await
                .unwrap(),
            SsoCheck::OtherRedirect
        );
        assert_eq!(
            use_("old", "a", None, "k1").await.unwrap(),
            SsoCheck::Expired
        );
        assert!(matches!(
            use_("s1", "a", Some("https://oa.example.com/cb"), "k1")
                .await
                .unwrap(),
            SsoCheck::Valid(_)
        ));
        assert_eq!(use_("s1", "a", None, "k2").await.unwrap(), SsoCheck::Used);
        assert_eq!(
            use_("s2", "a", None, "k1").await.unwrap(),
            SsoCheck::CodeUsed
        );
        assert_eq!(
            use_("s2", "a", None, "k3").await.unwrap(),
            SsoCheck::Used,
            "a refused code used the state up"
        );
        assert!(
            matches!(
                use_("s3", "b", None, "k1").await.unwrap(),
                SsoCheck::Valid(_)
            ),
            "codes are per connection"
        );

        // Pruning forgets states expired before the cut, and old codes.
        db.sso_add_state("s5".into(), state("a", later), now, now + 1)
            .await
            .unwrap();
        assert_eq!(
            use_("old", "a", None, "k9").await.unwrap(),
            SsoCheck::Unknown
        );
        assert!(matches!(
            use_("s4", "a", None, "k1").await.unwrap(),
            SsoCheck::Valid(_)
        ));
    }
}
