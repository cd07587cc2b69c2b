//! Conditions: CEL, not Turing-complete, so an evaluation is bounded by the expression and its input.

use std::sync::Arc;

use cel::objects::Value as Cel;
use cel::{Context, ExecutionError, Program};
use serde_json::Value;

use crate::lookup::{FUNCTIONS, Lookups, call};

/// The variables a condition sees.
pub const VARIABLES: &[&str] = &["event", "actor", "rule"];

pub struct Condition {
    program: Program,
}

impl Condition {
    /// Compiles `source`; an error names its 1-based line and column.
    pub fn compile(source: &str) -> Result<Condition, (Option<(u32, u32)>, String)> {
        let program = Program::compile(source).map_err(|errors| {
            let first = errors.errors.first();
            let position = first.map(|e| (e.pos.0.max(1) as u32, e.pos.1.max(0) as u32 + 1));
            let message = first.map_or_else(|| "syntax error".to_string(), |e| e.msg.clone());
            (position, message)
        })?;
        let references = program.references();
        for variable in references.variables() {
            if !VARIABLES.contains(&variable) && !FUNCTIONS.iter().any(|(f, _)| *f == variable) {
                return Err((
                    None,
                    format!("unknown variable {variable:?}; a condition sees {}", VARIABLES.join(", ")),
                ));
            }
        }
        Ok(Condition { program })
    }

    /// Whether the condition holds for `input` (an object with [`VARIABLES`]).
    pub fn holds(&self, input: &Value, lookups: &Arc<Lookups>) -> Result<bool, String> {
        let mut context = Context::default();
        for name in VARIABLES {
            let value = cel::to_value(&input[*name]).map_err(|e| format!("{name}: {e}"))?;
            context.add_variable_from_value(*name, value);
        }
        for (name, _) in FUNCTIONS {
            let lookups = lookups.clone();
            context
                .add_function(name, move |args: cel::extractors::Arguments| -> Result<Cel, ExecutionError> {
                    let args: Vec<Value> = args.0.iter().map(to_json).collect::<Result<_, _>>().map_err(|e| ExecutionError::function_error(name, e))?;
                    let found = call(&lookups, name, &args).map_err(|e| ExecutionError::function_error(name, e))?;
                    cel::to_value(&found).map_err(|e| ExecutionError::function_error(name, e.to_string()))
                })
                .map_err(|e| format!("{name}: {e:?}"))?;
        }
        match self.program.execute(&context) {
            Ok(Cel::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("the condition gave {}, not true or false", describe(&other))),
            Err(e) => Err(e.to_string()),
        }
    }
}

fn to_json(v: &Cel) -> Result<Value, String> {
    v.json().map_err(|e| format!("{e:?}"))
}

fn describe(v: &Cel) -> String {
    to_json(v).map_or_else(|_| format!("{v:?}"), |j| j.to_string())
}
