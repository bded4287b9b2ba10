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
use super::cx::{Cx, Frame, MAX_DEPTH};
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
                Ok(v) => self.bind_local(&port.name.name, port.name.span, v, false),
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
            let Some(arg) = arg else {
                match &port.default {
                    // An optional tensor port (`lengths: i64[B] = none`) left out.
                    Some(d) if matches!(d.kind, ExprKind::Name(ref n) if n == "none") => {
                        self.bind_local(&port.name.name, port.name.span, Val::None, false);
                    }
                    _ => {
                        self.report(missing_arg(&self.blocks_name(), port, span));
                        ok = false;
                    }
                }
                continue;
            };
            if matches!(arg.val, Val::None) && port.default.is_some() {
                self.bind_local(&port.name.name, port.name.span, Val::None, false);
                continue;
            }
            let values = match (&arg.val, variadic) {
                (Val::Tensor(v), false) => vec![*v],
                (Val::List(items), true) => match items
                    .iter()
                    .map(|i| {
                        if let Val::Tensor(t) = i {
                            Some(*t)
                        } else {
                            None
                        }
                    })
                    .collect::<Option<Vec<_>>>()
                {
                    Some(vs) => vs,
                    None => {
                        self.report(port_type_error(port, &arg.val, arg.span, true));
                        ok = false;
                        continue;
                    }
                },
                (v, variadic) => {
                    self.report(port_type_error(port, v, arg.span, *variadic));
                    ok = false;
                    continue;
                }
            };
            let arg_tensor = if *variadic {
                values.first().map(|v| Val::Tensor(*v))
            } else {
                Some(arg.val.clone())
            };
            match self.port_dims(ty, values.first().copied(), *variadic, &shared_syms) {
                Ok((dtype, dims)) => {
                    let pt = PortType {
                        name: port.name.name.clone(),
                        values,
                        dtype,
                        dims,
                        span: port.span,
                    };
                    self.blocks[bi].inputs.push(pt);
                    let val = if *variadic {
                        arg.val.clone()
                    } else {
                        arg_tensor.unwrap_or(Val::Poison)
                    };
                    self.bind_local(&port.name.name, port.name.span, val, false);
                }
                Err(()) => ok = false,
            }
        }
        if ok {
            Ok(())
        } else {
            Err(())
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
        returns: Vec<(Option<crate::syntax::ast::Ident>, Val, Span)>,
        out_types: Vec<(String, (crate::ir::Dtype, Vec<DimExpr>))>,
        span: Span,
        bi: usize,
    ) -> Ev {
        let b = &def.ast;
        if b.outputs.is_empty() {
            return Ok(returns
                .into_iter()
                .find(|(n, _, _)| n.is_none())
                .map(|(_, v, _)| v)
                .unwrap_or(Val::None));
        }
        let mut fields = Vec::new();
        let mut ok = true;
        for (o, (name, (dtype, dims))) in b.outputs.iter().zip(out_types) {
            let found = returns
                .iter()
                .rev()
                .find(|(n, _, _)| n.as_ref().map(|n| n.name.as_str()).unwrap_or("") == name);
            let Some((_, val, at)) = found else {
                let what = if name.is_empty() {
                    "its output".to_string()
                } else {
                    format!("output `{name}`")
                };
                let d = Diagnostic::error(
                    "fusec::block::output",
                    format!("`{}` never returns {what}", b.name.name),
                )
                .label(o.ty.span, "declared here")
                .help(if name.is_empty() {
                    "end the body with `return expr`".to_string()
                } else {
                    format!("add `return ({name} = ...)`")
                });
                self.report(d);
                ok = false;
                continue;
            };
            let Val::Tensor(v) = val else {
                if !matches!(val, Val::Poison) {
                    let d = Diagnostic::error(
                        "fusec::block::output",
                        format!("an output must be a tensor, found {}", val.kind()),
                    )
                    .label(*at, "returned here")
                    .help("block outputs are tensors; compile-time values stay inside the block");
                    self.report(d);
                }
                ok = false;
                continue;
            };
            let scalar = dims.is_empty();
            self.blocks[bi].outputs.push(PortType {
                name: name.clone(),
                values: vec![*v],
                dtype,
                dims,
                span: o.ty.span,
            });
            if scalar && self.frames.len() == 2 && !name.is_empty() {
                let full = format!("{}.{name}", self.frame().path);
                self.named_scalars.push(NamedValue {
                    name: full,
                    value: *v,
                    span,
                });
            }
            fields.push((name, Val::Tensor(*v)));
        }
        for (n, _, at) in &returns {
            if let Some(n) = n {
                if !b
                    .outputs
                    .iter()
                    .any(|o| o.name.as_ref().is_some_and(|o| o.name == n.name))
                {
                    let d = Diagnostic::error(
                        "fusec::block::output",
                        format!("`{}` declares no output `{}`", b.name.name, n.name),
                    )
                    .label(*at, "returned here")
                    .help("declare it in the signature: `-> (name: f32[...], ...)`");
                    self.report(d);
                    ok = false;
                }
            }
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
