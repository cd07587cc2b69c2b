//! Conditions: CEL, not Turing-complete, so an evaluation is bounded by the expression and its input.

use std::sync::Arc;

use cel::common::ast::{EntryExpr, Expr, IdedEntryExpr};
use cel::objects::Value as Cel;
use cel::{Context, ExecutionError, IdedExpr, Program};
use serde_json::Value;

use crate::lookup::{FUNCTIONS, Lookups, call};

/// CEL's standard library, built once: building it per evaluation cost more than the evaluation itself.
fn stdlib() -> Arc<cel::Env> {
    static STDLIB: std::sync::OnceLock<Arc<cel::Env>> = std::sync::OnceLock::new();
    STDLIB.get_or_init(|| Arc::new(cel::Env::stdlib())).clone()
}

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
            // The cel parser's positions are 1-based already (line and column).
            let position = first.map(|e| (e.pos.0.max(1) as u32, e.pos.1.max(1) as u32));
            let message = first.map_or_else(|| "syntax error".to_string(), |e| e.msg.clone());
            (position, message)
        })?;
        let mut free = Vec::new();
        free_variables(program.expression(), &mut Vec::new(), &mut free);
        for variable in free {
            if !VARIABLES.contains(&variable) && !FUNCTIONS.iter().any(|(f, _)| *f == variable) {
                return Err((
                    None,
                    format!("unknown variable {variable:?}; a condition sees {}", VARIABLES.join(", ")),
                ));
            }
        }
        Ok(Condition { program })
    }

    /// Whether the condition holds in an event's scope, for rule `rule`.
    pub fn holds(&self, scope: &Scope, rule: &Value) -> Result<bool, String> {
        let mut context = scope.context.new_inner_scope();
        let rule = cel::to_value(rule).map_err(|e| format!("rule: {e}"))?;
        context.add_variable_from_value("rule", rule);
        match self.program.execute(&context) {
            Ok(Cel::Bool(b)) => Ok(b),
            Ok(other) => Err(format!("the condition gave {}, not true or false", describe(&other))),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// What every condition evaluated on one event shares: its variables converted to CEL and the lookup functions,
/// made once per event rather than once per rule (each rule adds only `rule`, in an inner scope).
pub struct Scope {
    context: Context<'static, 'static>,
}

impl Scope {
    /// `input`: an object with the event's variables (`event`, `actor`).
    pub fn new(input: &Value, lookups: &Arc<Lookups>) -> Result<Scope, String> {
        let mut context = Context::with_env(stdlib());
        for name in VARIABLES.iter().filter(|v| **v != "rule") {
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
        Ok(Scope { context })
    }
}

/// The variables `expr` names that no macro binds: `l` in `list.exists(l, l.x == 1)` is the macro's own (and so
/// are the accumulators macros expand to, named `@...`).
fn free_variables<'e>(expr: &'e IdedExpr, bound: &mut Vec<&'e str>, out: &mut Vec<&'e str>) {
    let entries = |entries: &'e [IdedEntryExpr], bound: &mut Vec<&'e str>, out: &mut Vec<&'e str>| {
        for entry in entries {
            match &entry.expr {
                EntryExpr::StructField(field) => free_variables(&field.value, bound, out),
                EntryExpr::MapEntry(entry) => {
                    free_variables(&entry.key, bound, out);
                    free_variables(&entry.value, bound, out);
                }
            }
        }
    };
    match &expr.expr {
        Expr::Unspecified | Expr::Literal(_) => {}
        Expr::Ident(name) => {
            if !name.starts_with('@') && !bound.contains(&name.as_str()) {
                out.push(name);
            }
        }
        Expr::Call(call) => {
            if let Some(target) = &call.target {
                free_variables(target, bound, out);
            }
            for arg in &call.args {
                free_variables(arg, bound, out);
            }
        }
        Expr::Comprehension(c) => {
            free_variables(&c.iter_range, bound, out);
            free_variables(&c.accu_init, bound, out);
            let depth = bound.len();
            bound.push(&c.iter_var);
            bound.extend(c.iter_var2.as_deref());
            bound.push(&c.accu_var);
            for part in [&c.loop_cond, &c.loop_step, &c.result] {
                free_variables(part, bound, out);
            }
            bound.truncate(depth);
        }
        Expr::List(list) => {
            for element in &list.elements {
                free_variables(element, bound, out);
            }
        }
        Expr::Map(map) => entries(&map.entries, bound, out),
        Expr::Struct(s) => entries(&s.entries, bound, out),
        Expr::Select(select) => free_variables(&select.operand, bound, out),
    }
}

fn to_json(v: &Cel) -> Result<Value, String> {
    v.json().map_err(|e| format!("{e:?}"))
}

fn describe(v: &Cel) -> String {
    to_json(v).map_or_else(|_| format!("{v:?}"), |j| j.to_string())
}
