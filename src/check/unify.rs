//! Unification of symbolic dims: a union-find over the dim variables of block ports, each class optionally bound
//! to a resolved [`Dim`] (a number or a model-level symbol such as `B`).
//!
//! Model-level symbols are rigid: `B` and `T` are different dims, and `B` is never 32. The symbols written in a
//! block's port types (`x: f32[B, D]`) are variables scoped to one block instance: the first argument binds them
//! and every later use must agree. So one `Mlp` call may bind `D = 76` and another `D = 47`.

use std::collections::HashMap;

use crate::ir::Dim;

/// A dim variable: a symbol name in a scope. Scope `None` is the model itself (rigid symbols never live here);
/// `Some(k)` is block instance `k`; per-element variables of a variadic port get a name suffix.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VarKey {
    pub scope: usize,
    pub name: String,
}

/// Union-find with a binding per class.
#[derive(Clone, Debug, Default)]
pub struct Unifier {
    index: HashMap<VarKey, usize>,
    parent: Vec<usize>,
    binding: Vec<Option<Dim>>,
}

/// Two resolved dims that should have been equal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Conflict {
    pub expected: Dim,
    pub found: Dim,
}

impl Unifier {
    pub fn new() -> Unifier {
        Unifier::default()
    }

    fn var(&mut self, key: &VarKey) -> usize {
        if let Some(i) = self.index.get(key) {
            return *i;
        }
        let i = self.parent.len();
        self.parent.push(i);
        self.binding.push(None);
        self.index.insert(key.clone(), i);
        i
    }

    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            // Path halving keeps the trees flat without recursion.
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    /// The dim a variable is bound to, if any.
    pub fn lookup(&self, key: &VarKey) -> Option<Dim> {
        let mut i = *self.index.get(key)?;
        while self.parent[i] != i {
            i = self.parent[i];
        }
        self.binding[i].clone()
    }

    /// Binds a variable to a resolved dim, or checks it against its existing binding.
    pub fn bind(&mut self, key: &VarKey, dim: &Dim) -> Result<(), Conflict> {
        let i = self.var(key);
        let r = self.find(i);
        match &self.binding[r] {
            Some(d) if d == dim => Ok(()),
            Some(d) => Err(Conflict {
                expected: d.clone(),
                found: dim.clone(),
            }),
            None => {
                self.binding[r] = Some(dim.clone());
                Ok(())
            }
        }
    }

    /// Makes two variables the same dim; fails if both are already bound to different dims.
    pub fn union(&mut self, a: &VarKey, b: &VarKey) -> Result<(), Conflict> {
        let (ia, ib) = (self.var(a), self.var(b));
        let (ra, rb) = (self.find(ia), self.find(ib));
        if ra == rb {
            return Ok(());
        }
        let merged = match (self.binding[ra].clone(), self.binding[rb].clone()) {
            (Some(x), Some(y)) if x != y => {
                return Err(Conflict {
                    expected: x,
                    found: y,
                })
            }
            (x, y) => x.or(y),
        };
        self.parent[rb] = ra;
        self.binding[ra] = merged;
        Ok(())
    }
}

#[cfg(test)]
#[path = "tests/unify.rs"]
mod tests;
