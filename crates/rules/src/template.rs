//! Templates: minijinja with strict undefined (a missing field is an error, not an empty string), a null that
//! would be printed is an error too, and fuel, so a runaway loop fails its action instead of the server.

use std::sync::Arc;

use minijinja::value::{Object, Rest};
use minijinja::{Environment, Error, ErrorKind, State, UndefinedBehavior, Value as Jinja};
use serde_json::Value;

use crate::lookup::{FUNCTIONS, Lookups, call};

/// Roughly how many instructions one template may run (and ~64 bytes allocated each).
pub const FUEL: u64 = 50_000;
/// Longest text one template may produce.
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;
/// Where the lookups travel in a render's context: not a name a template can spell by accident.
const LOOKUPS: &str = "__qiao_lookups";

#[derive(Debug)]
struct Handle(Arc<Lookups>);

impl std::fmt::Debug for Lookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Lookups")
    }
}

impl Object for Handle {}

/// The templates of one rule, compiled, by name.
pub struct Templates {
    env: Environment<'static>,
}

impl Default for Templates {
    fn default() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_fuel(Some(FUEL));
        env.set_formatter(|out, _state, value| {
            if value.is_none() || value.is_undefined() {
                return Err(Error::new(ErrorKind::UndefinedError, "a template printed a null value"));
            }
            // Strings as they are; anything else as minijinja prints it (numbers, lists...).
            match value.as_str() {
                Some(s) => out.write_str(s),
                None => write!(out, "{value}"),
            }
            .map_err(|_| Error::new(ErrorKind::WriteFailure, "cannot write"))
        });
        for (name, _) in FUNCTIONS {
            env.add_function(*name, move |state: &State, args: Rest<Jinja>| -> Result<Jinja, Error> {
                let lookups = state
                    .lookup(LOOKUPS)
                    .and_then(|v| v.downcast_object::<Handle>())
                    .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "lookups are not available here"))?;
                let args: Vec<Value> = args
                    .iter()
                    .map(|a| serde_json::to_value(a).map_err(|e| Error::new(ErrorKind::BadSerialization, e.to_string())))
                    .collect::<Result<_, _>>()?;
                let found = call(&lookups.0, name, &args).map_err(|e| Error::new(ErrorKind::InvalidOperation, e))?;
                Ok(Jinja::from(minijinja::value::Serde(&found)))
            });
        }
        Templates { env }
    }
}

impl Templates {
    /// Compiles a template under `name`; an error names its 1-based line and column.
    pub fn add(&mut self, name: String, source: String) -> Result<(), (Option<(u32, u32)>, String)> {
        let position = |e: &Error| -> Option<(u32, u32)> {
            let line = e.line()? as u32;
            let start = e.range()?.start;
            let line_start = source[..start.min(source.len())].rfind('\n').map_or(0, |i| i + 1);
            Some((line, (source[line_start..start.min(source.len())].chars().count() + 1) as u32))
        };
        match self.env.add_template_owned(name, source.clone()) {
            Ok(()) => Ok(()),
            Err(e) => Err((position(&e), e.detail().unwrap_or("syntax error").to_string())),
        }
    }

    /// Renders template `name` with `input` (an object with the condition's variables).
    pub fn render(&self, name: &str, input: &Value, lookups: &Arc<Lookups>) -> Result<String, String> {
        let template = self.env.get_template(name).map_err(|e| e.to_string())?;
        let mut context = std::collections::BTreeMap::new();
        if let Value::Object(vars) = input {
            for (name, value) in vars {
                context.insert(name.clone(), Jinja::from(minijinja::value::Serde(value)));
            }
        }
        context.insert(LOOKUPS.to_string(), Jinja::from_object(Handle(lookups.clone())));
        let context = Jinja::from(context);
        let text = template.render(context).map_err(|e| describe(&e))?;
        if text.len() > MAX_OUTPUT_BYTES {
            return Err(format!("the template produced more than {MAX_OUTPUT_BYTES} bytes"));
        }
        Ok(text)
    }
}

fn describe(e: &Error) -> String {
    let what = match e.kind() {
        ErrorKind::OutOfFuel => "the template ran out of fuel (it does too much work)".to_string(),
        _ => e.detail().map_or_else(|| e.kind().to_string(), str::to_string),
    };
    match e.line() {
        Some(line) => format!("line {line}: {what}"),
        None => what,
    }
}
