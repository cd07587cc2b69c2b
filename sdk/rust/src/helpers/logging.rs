//! One-line logging through the host's `log` import. The host tags each line with the connection and the call,
//! so a connector logs only what it knows: a message and a few fields (never secrets).

use super::log::{Level, log};

pub fn debug(message: &str, fields: &[(&str, &str)]) {
    emit(Level::Debug, message, fields)
}

pub fn info(message: &str, fields: &[(&str, &str)]) {
    emit(Level::Info, message, fields)
}

pub fn warn(message: &str, fields: &[(&str, &str)]) {
    emit(Level::Warn, message, fields)
}

pub fn error(message: &str, fields: &[(&str, &str)]) {
    emit(Level::Error, message, fields)
}

fn emit(level: Level, message: &str, fields: &[(&str, &str)]) {
    let fields: Vec<(String, String)> = fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    log(level, message, &fields);
}
