//! Block instantiation: a call of a block is inlined into the model's graph under a hierarchical instance path.
//! Compile-time parameters are bound (arguments, `--set INSTANCE.PARAM` overrides, defaults) and type checked;
//! tensor ports bind their symbolic dims to the actual arguments' dims; declared port and output types are
//! recorded in the `BlockInstance` for the checker.

use std::collections::HashSet;
use std::rc::Rc;

use crate::diag::Diagnostic;
use crate::ir::{BlockInstance, DimExpr, NamedValue, PortType};
use crate::source::Span;
use crate::syntax::ast::{ExprKind, Port, PortKind, TensorTypeExpr};

use super::call::ArgVal;
use super::cx::{Cx, Frame, BLOCK_WORK, MAX_DEPTH};
use super::eval::Ev;
use super::modules::BlockDef;
use super::value::Val;

impl Cx<'_> {
    /// Inlines one call of `def`. `shared` is the parameter path of a shared instance being applied.
    pub fn instantiate(
        &mut self,
        def: Rc<BlockDef>,
        args: Vec<ArgVal>,
        span: Span,
        hint: Option<&str>,
        shared: Option<String>,
    ) -> Ev {
        let b = &def.ast;
        self.charge(BLOCK_WORK, span)?;
        if self.frames.len() > MAX_DEPTH {
            let d = Diagnostic::error(
                "fusec::block::recursion",
                format!("blocks nest more than {MAX_DEPTH} deep"),
            )
            .label(span, format!("`{}` called here", b.name.name))
            .help("a block that calls itself never ends: blocks are inlined at compile time");
            return self.fail(d);
        }
        let names: Vec<&str> = b.ports.iter().map(|p| p.name.name.as_str()).collect();
        let bound = self.bind_args(&b.name.name, &names, args, span)?;
        let local = self.local_name(hint, &b.name.name.to_lowercase());
        let caller = self.frame();
        let path = Cx::qualify(&caller.path, &local);
        let param_path = shared.unwrap_or_else(|| Cx::qualify(&caller.param_path, &local));
        let mut call_sites = vec![span];
        call_sites.extend(caller.call_sites.iter().copied());
        let block_index = self.blocks.len();
        self.blocks.push(BlockInstance {
            path: path.clone(),
            block: b.name.name.clone(),
            parent: caller.block,
            call_site: span,
            inputs: Vec::new(),
            outputs: Vec::new(),
        });
        self.frames.push(Frame {
            module: def.module,
            path,
            param_path,
            block: Some(block_index),
            call_sites,
            scopes: vec![Default::default()],
            is_std: def.is_std,
            ..Frame::default()
        });
        let outer_def = self.current_def.replace(def.clone());
        let result = self.instance_body(&def, bound, span, block_index);
        self.current_def = outer_def;
        self.pop_scope();
        self.frames.pop();
        result
    }

    fn instance_body(
        &mut self,
        def: &BlockDef,
        bound: Vec<Option<ArgVal>>,
        span: Span,
        bi: usize,
    ) -> Ev {
        let b = &def.ast;
        let mut ok = self
            .bind_value_params(b.ports.as_slice(), &bound, span)
            .is_ok();
        ok &= self
            .bind_tensor_ports(b.ports.as_slice(), &bound, span, bi)
            .is_ok();
        if !ok {
            return Err(());
        }
        let mut out_types = Vec::new();
        for o in &b.outputs {
            let name = o.name.as_ref().map(|n| n.name.clone()).unwrap_or_default();
            out_types.push((name, self.tensor_type(&o.ty)?));
        }
        self.run_body(&b.body);
        let returns = std::mem::take(&mut self.frame_mut().returns);
        self.collect_outputs(def, returns, out_types, span, bi)
    }

    /// Value parameters first (in order), so tensor port types can use them: argument, override, default.
    fn bind_value_params(
        &mut self,
        ports: &[Port],
        bound: &[Option<ArgVal>],
        span: Span,
    ) -> Result<(), ()> {
        let mut ok = true;
        for (port, arg) in ports.iter().zip(bound) {
            let PortKind::Value(ty) = &port.kind else {
                continue;
            };
            let key = format!("{}.{}", self.frame().path, port.name.name);
            let overridden = self.overrides.take(&key, self.diags);
            let (val, at) = match (overridden, arg, &port.default) {
                (Some((v, at)), _, _) => (v, at),
                (None, Some(a), _) => (a.val.clone(), a.span),
                (None, None, Some(d)) => match self.eval(d, None) {
                    Ok(v) => (v, d.span),
                    Err(()) => {
                        ok = false;
                        continue;
                    }
                },
                (None, None, None) => {
                    self.report(missing_arg(&self.blocks_name(), port, span));
                    ok = false;
                    continue;
                }
            };
            match self.check_value_type(ty, val, at, &port.name.name) {
                Ok(v) => self.bind_port(port, v),
                Err(()) => ok = false,
            }
        }
        if ok {
            Ok(())
        } else {
            Err(())
        }
    }

    fn blocks_name(&self) -> String {
        self.frame()
            .block
            .and_then(|i| self.blocks.get(i))
            .map(|b| b.block.clone())
            .unwrap_or_default()
    }

    /// Tensor ports: check the argument is a tensor (or a list of tensors), bind symbolic dims, record types.
    fn bind_tensor_ports(
        &mut self,
        ports: &[Port],
        bound: &[Option<ArgVal>],
        span: Span,
        bi: usize,
    ) -> Result<(), ()> {
        let outputs = self.current_outputs();
        let shared_syms = symbols_in_several_ports(ports, &outputs);
        let mut ok = true;
        for (port, arg) in ports.iter().zip(bound) {
            let PortKind::Tensor { ty, variadic } = &port.kind else {
                continue;
            };
            let values = match self.port_values(port, arg.as_ref(), *variadic, span) {
                Ok(Some(values)) => values,
                Ok(None) => continue,
                Err(()) => {
                    ok = false;
                    continue;
                }
            };
            let Ok((dtype, dims)) =
                self.port_dims(ty, values.first().copied(), *variadic, &shared_syms)
            else {
                ok = false;
                continue;
            };
            // A variadic port is bound to the list, an ordinary one to its tensor.
            let val = match (variadic, arg) {
                (true, Some(a)) => a.val.clone(),
                _ => values
                    .first()
                    .map(|v| Val::Tensor(*v))
                    .unwrap_or(Val::Poison),
            };
            self.bind_port(port, val);
            let name = port.name.name.clone();
            let pt = PortType {
                name,
                values,
                dtype,
                dims,
                span: port.span,
            };
            self.blocks[bi].inputs.push(pt);
        }
        if ok {
            Ok(())
        } else {
            Err(())
        }
    }

    /// The tensors given to one tensor port, or `Ok(None)` for an optional port left out (bound to `none`).
    fn port_values(
        &mut self,
        port: &Port,
        arg: Option<&ArgVal>,
        variadic: bool,
        span: Span,
    ) -> Result<Option<Vec<crate::ir::Value>>, ()> {
        let optional =
            matches!(&port.default, Some(d) if matches!(&d.kind, ExprKind::Name(n) if n == "none"));
        let arg = match arg {
            Some(a) if !(optional && matches!(a.val, Val::None)) => a,
            _ if optional => {
                self.bind_port(port, Val::None);
                return Ok(None);
            }
            _ => return self.fail(missing_arg(&self.blocks_name(), port, span)),
        };
        let tensors = match (&arg.val, variadic) {
            (Val::Tensor(v), false) => Some(vec![*v]),
            (Val::List(items), true) => items
                .iter()
                .map(|i| {
                    if let Val::Tensor(t) = i {
                        Some(*t)
                    } else {
                        None
                    }
                })
                .collect(),
            _ => None,
        };
        match tensors {
            Some(t) => Ok(Some(t)),
            None => self.fail(port_type_error(port, &arg.val, arg.span, variadic)),
        }
    }

    /// Dims of a declared port type. A free name binds to the argument's dim (`Of`); in a variadic port a name
    /// that no other port mentions is per element and becomes `Any`.
    fn port_dims(
        &mut self,
        ty: &TensorTypeExpr,
        first: Option<crate::ir::Value>,
        variadic: bool,
        shared: &HashSet<String>,
    ) -> Result<(crate::ir::Dtype, Vec<DimExpr>), ()> {
        let dtype = self.dtype(&ty.dtype)?;
        let mut dims = Vec::new();
        for (axis, d) in ty.dims.iter().enumerate() {
            if let ExprKind::Name(n) = &d.kind {
                if n == "_" {
                    dims.push(DimExpr::Any);
                    continue;
                }
                if self.peek(n).is_none() {
                    let per_element = variadic && !shared.contains(n);
                    match first {
                        Some(v) if !per_element => {
                            let of = DimExpr::Of {
                                value: v,
                                axis: axis as i64,
                            };
                            self.bind_local(n, d.span, Val::Dim(of.clone()), false);
                            dims.push(of);
                        }
                        _ => dims.push(DimExpr::Any),
                    }
                    continue;
                }
            }
            dims.push(self.dim_of(d)?);
        }
        Ok((dtype, dims))
    }

    fn collect_outputs(
        &mut self,
        def: &BlockDef,
        returns: Vec<Returned>,
        out_types: Vec<(String, (crate::ir::Dtype, Vec<DimExpr>))>,
        span: Span,
        bi: usize,
    ) -> Ev {
        let b = &def.ast;
        if b.outputs.is_empty() {
            let unnamed = returns.into_iter().find(|(n, _, _)| n.is_none());
            return Ok(unnamed.map(|(_, v, _)| v).unwrap_or(Val::None));
        }
        let mut fields = Vec::new();
        let mut ok = self.undeclared_returns(def, &returns);
        for (o, (name, (dtype, dims))) in b.outputs.iter().zip(out_types) {
            let Ok(v) = self.returned_tensor(def, &returns, &name, o.ty.span) else {
                ok = false;
                continue;
            };
            if dims.is_empty() && self.frames.len() == 2 && !name.is_empty() {
                // A scalar output of a top-level call: a train step may name it (`fusion.d_loss`).
                let full = format!("{}.{name}", self.frame().path);
                self.named_scalars.push(NamedValue {
                    name: full,
                    value: v,
                    span,
                });
            }
            let pt = PortType {
                name: name.clone(),
                values: vec![v],
                dtype,
                dims,
                span: o.ty.span,
            };
            self.blocks[bi].outputs.push(pt);
            fields.push((name, Val::Tensor(v)));
        }
        if !ok {
            return Err(());
        }
        match b.outputs.as_slice() {
            [single] if single.name.is_none() => {
                Ok(fields.pop().map(|(_, v)| v).unwrap_or(Val::Poison))
            }
            _ => Ok(Val::Record(fields)),
        }
    }

    /// The tensor returned for the declared output `name` ("" for the unnamed one); the last return wins.
    fn returned_tensor(
        &mut self,
        def: &BlockDef,
        returns: &[Returned],
        name: &str,
        decl: Span,
    ) -> Result<crate::ir::Value, ()> {
        let found = returns
            .iter()
            .rev()
            .find(|(n, _, _)| n.as_ref().map(|n| n.name.as_str()).unwrap_or("") == name);
        match found {
            Some((_, Val::Tensor(v), _)) => Ok(*v),
            Some((_, Val::Poison, _)) => Err(()),
            Some((_, val, at)) => {
                let msg = format!("an output must be a tensor, found {}", val.kind());
                let d = Diagnostic::error("fusec::block::output", msg)
                    .label(*at, "returned here")
                    .help("block outputs are tensors; compile-time values stay inside the block");
                self.fail(d)
            }
            None => {
                let (what, help) = if name.is_empty() {
                    (
                        "its output".to_string(),
                        "end the body with `return expr`".to_string(),
                    )
                } else {
                    (
                        format!("output `{name}`"),
                        format!("add `return ({name} = ...)`"),
                    )
                };
                let d = Diagnostic::error(
                    "fusec::block::output",
                    format!("`{}` never returns {what}", def.ast.name.name),
                )
                .label(decl, "declared here")
                .help(help);
                self.fail(d)
            }
        }
    }

    /// Reports named returns the signature does not declare; `false` if there were any.
    fn undeclared_returns(&mut self, def: &BlockDef, returns: &[Returned]) -> bool {
        let mut ok = true;
        for (n, _, at) in returns {
            let Some(n) = n else { continue };
            if def
                .ast
                .outputs
                .iter()
                .any(|o| o.name.as_ref().is_some_and(|o| o.name == n.name))
            {
                continue;
            }
            let d = Diagnostic::error(
                "fusec::block::output",
                format!("`{}` declares no output `{}`", def.ast.name.name, n.name),
            )
            .label(*at, "returned here")
            .help("declare it in the signature: `-> (name: f32[...], ...)`");
            self.report(d);
            ok = false;
        }
        ok
    }

    /// Binds a port or parameter; in a user file one that the body never reads gets a warning.
    fn bind_port(&mut self, port: &Port, val: Val) {
        let warn = !self.frame().is_std && !port.name.name.starts_with('_');
        self.bind_local(&port.name.name, port.name.span, val, warn);
    }

    /// Output types of the block being instantiated (innermost frame).
    fn current_outputs(&self) -> Vec<TensorTypeExpr> {
        self.current_def
            .as_ref()
            .map(|d| d.ast.outputs.iter().map(|o| o.ty.clone()).collect())
            .unwrap_or_default()
    }

    /// Looks a name up without marking it used.
    pub fn peek(&self, name: &str) -> Option<&Val> {
        self.frame()
            .scopes
            .iter()
            .rev()
            .find_map(|s| s.get(name))
            .map(|b| &b.val)
    }
}

/// One `return` value: its name (for named outputs), the value and where it was written.
type Returned = (Option<crate::syntax::ast::Ident>, Val, Span);

/// Symbol names that occur in more than one port or output (shared by all elements of a variadic port).
fn symbols_in_several_ports(ports: &[Port], outputs: &[TensorTypeExpr]) -> HashSet<String> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut several = HashSet::new();
    let types = ports.iter().filter_map(|p| {
        if let PortKind::Tensor { ty, .. } = &p.kind {
            Some(ty)
        } else {
            None
        }
    });
    for ty in types.chain(outputs.iter()) {
        let mut here = HashSet::new();
        for d in &ty.dims {
            if let ExprKind::Name(n) = &d.kind {
                here.insert(n.clone());
            }
        }
        for n in here {
            if !seen.insert(n.clone()) {
                several.insert(n);
            }
        }
    }
    several
}

fn missing_arg(block: &str, port: &Port, span: Span) -> Diagnostic {
    Diagnostic::error(
        "fusec::param::missing",
        format!("`{block}` needs an argument for `{}`", port.name.name),
    )
    .label(span, format!("`{}` is missing", port.name.name))
    .label(port.span, "declared here")
    .help(format!("pass it: `{} = ...`", port.name.name))
}

fn port_type_error(port: &Port, v: &Val, at: Span, variadic: bool) -> Diagnostic {
    let expected = if variadic {
        "a list of tensors"
    } else {
        "a tensor"
    };
    Diagnostic::error(
        "fusec::param::type",
        format!(
            "port `{}` expects {expected}, found {}",
            port.name.name,
            v.kind()
        ),
    )
    .label(at, format!("{} given here", v.kind()))
    .label(port.span, "declared here")
    .help(if variadic {
        "pass the tensors as a list: `[za, zv, zt]`"
    } else {
        "pass a tensor"
    })
}
