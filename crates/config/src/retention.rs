//! `[retention]`: how long the store keeps what it no longer needs, and `[store]`: how large it may grow.
//!
//! ```toml
//! [retention]                     # days; 0 keeps forever
//! succeeded_operations_days = 30
//! failed_operations_days = 0      # failed, dead and discarded operations: kept until deleted by hand
//! events_days = 30                # only events every subscriber and every enabled rule has passed
//! audit_days = 365
//! sync_runs_days = 90
//! rule_runs_days = 30
//! every_s = 300                   # how often the pruner runs (and once at start)
//!
//! [store]
//! max_size_mb = 0                 # 0: no limit but the disk's; past it new work is refused with 503 store_full
//! ```

use anyhow::{Result, bail};
use serde::Deserialize;

/// The longest retention accepted (100 years): anything longer is a typo for 0 (forever).
pub const MAX_DAYS: u64 = 36_500;

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionSettings {
    /// Operations that succeeded, counted from when they finished.
    pub succeeded_operations_days: u64,
    /// Operations that failed, were dead-lettered or discarded, counted from their last change. Kept forever by
    /// default: they are what an operator still has to look at.
    pub failed_operations_days: u64,
    /// Events, counted from when they were received; an event a subscriber or an enabled rule has not passed,
    /// or that a subscriber's dead letter names, is kept whatever its age.
    pub events_days: u64,
    pub audit_days: u64,
    /// Finished directory sync runs (with their steps), counted from when they finished.
    pub sync_runs_days: u64,
    /// What rules did with each event.
    pub rule_runs_days: u64,
    /// Seconds between pruner runs (it also runs once at start).
    pub every_s: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            succeeded_operations_days: 30,
            failed_operations_days: 0,
            events_days: 30,
            audit_days: 365,
            sync_runs_days: 90,
            rule_runs_days: 30,
            every_s: 300,
        }
    }
}

impl RetentionSettings {
    /// Each setting by its name in the file.
    pub fn days(&self) -> [(&'static str, u64); 6] {
        [
            ("succeeded_operations_days", self.succeeded_operations_days),
            ("failed_operations_days", self.failed_operations_days),
            ("events_days", self.events_days),
            ("audit_days", self.audit_days),
            ("sync_runs_days", self.sync_runs_days),
            ("rule_runs_days", self.rule_runs_days),
        ]
    }

    pub fn check(&self) -> Result<()> {
        for (name, days) in self.days() {
            if days > MAX_DAYS {
                bail!("[retention] {name} = {days}: at most {MAX_DAYS} days; 0 keeps forever");
            }
        }
        if self.every_s == 0 || self.every_s > 86_400 {
            bail!("[retention] every_s = {}: must be between 1 and 86400 seconds", self.every_s);
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Default, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreSettings {
    /// The most the database file may hold, in MiB (SQLite's `max_page_count`); 0: no limit but the disk's.
    /// When it is reached, new work (writes, webhook events) is refused with 503 `store_full` and nothing already
    /// accepted is lost; retention frees space inside the file for new rows.
    pub max_size_mb: u64,
}

impl StoreSettings {
    pub fn check(&self) -> Result<()> {
        if self.max_size_mb > (1 << 24) {
            bail!("[store] max_size_mb = {}: at most {} (16 TiB); 0 means no limit", self.max_size_mb, 1u64 << 24);
        }
        Ok(())
    }

    /// The limit in bytes, 0 for none.
    pub fn max_bytes(&self) -> u64 {
        self.max_size_mb << 20
    }
}

#[cfg(test)]
mod tests {
    use crate::ConfigFile;

    #[test]
    fn retention_defaults_keep_failures_and_validate() {
        let file: ConfigFile = toml::from_str("").unwrap();
        assert_eq!(file.retention.succeeded_operations_days, 30);
        assert_eq!(file.retention.failed_operations_days, 0, "kept forever");
        assert_eq!(file.store.max_size_mb, 0);
        file.retention.check().unwrap();

        let file: ConfigFile =
            toml::from_str("[retention]\nevents_days = 7\naudit_days = 0\n[store]\nmax_size_mb = 512").unwrap();
        assert_eq!((file.retention.events_days, file.retention.audit_days), (7, 0));
        assert_eq!(file.retention.sync_runs_days, 90, "the rest keep their defaults");
        assert_eq!(file.store.max_bytes(), 512 << 20);

        let file: ConfigFile = toml::from_str("[retention]\nevents_days = 100000").unwrap();
        let err = file.retention.check().unwrap_err().to_string();
        assert!(err.contains("events_days = 100000") && err.contains("0 keeps forever"), "{err}");
        let file: ConfigFile = toml::from_str("[retention]\nevery_s = 0").unwrap();
        assert!(file.retention.check().unwrap_err().to_string().contains("every_s"));
        assert!(toml::from_str::<ConfigFile>("[retention]\nevent_days = 1").is_err(), "typos are refused");
        assert!(toml::from_str::<ConfigFile>("[retention]\nevents_days = -1").is_err());
        assert!(toml::from_str::<ConfigFile>("[store]\nmax_size = 1").is_err());
    }

    #[test]
    fn retention_settings_are_checked_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qiao.toml");
        std::fs::write(&path, "[retention]\naudit_days = 50000\n").unwrap();
        let err = format!("{:#}", ConfigFile::load(&path).unwrap_err());
        assert!(err.contains("audit_days"), "{err}");
    }
}
