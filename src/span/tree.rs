//! Walking a trace's spans as a tree, in linear time and without recursion.
//!
//! [`Trace::children`] scans every span, so a walk built on it is quadratic:
//! tens of seconds for a trace of 20,000 calls. The views (render, snapshot,
//! timeline) build the children lists once here instead, and walk them with
//! an explicit stack, so a deep chain in a hand-edited recording cannot
//! overflow the stack.

use std::collections::HashMap;

use super::{SpanId, Trace};

/// The children of every span of a trace, by position in `trace.spans`.
pub(crate) struct Tree {
    children: Vec<Vec<usize>>,
}

/// One span reached by [`Tree::walk`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Visit {
    /// The span's position in `trace.spans`.
    pub index: usize,
    /// How many ancestors it has on the walk (the root has 0).
    pub depth: usize,
    /// Whether it is the last child of its parent (the root is).
    pub last: bool,
}

impl Tree {
    /// The children lists of `trace`: each span under the first span with
    /// its parent's id, in the order of `trace.spans` (start order).
    pub(crate) fn of(trace: &Trace) -> Self {
        let mut position: HashMap<SpanId, usize> = HashMap::with_capacity(trace.spans.len());
        for (i, span) in trace.spans.iter().enumerate() {
            position.entry(span.id).or_insert(i);
        }
        let mut children = vec![Vec::new(); trace.spans.len()];
        for (i, span) in trace.spans.iter().enumerate() {
            if let Some(parent) = span.parent.and_then(|p| position.get(&p)) {
                children[*parent].push(i);
            }
        }
        Self { children }
    }

    /// The children of the span at `index`, in start order.
    pub(crate) fn children(&self, index: usize) -> &[usize] {
        self.children.get(index).map_or(&[], Vec::as_slice)
    }

    /// Every span reachable from the root (`spans[0]`), parents before their
    /// children, children in start order; each span at most once, so a parent
    /// cycle in a hand-edited recording ends the walk instead of looping.
    pub(crate) fn walk(&self) -> Vec<Visit> {
        let mut seen = vec![false; self.children.len()];
        let mut out = Vec::with_capacity(self.children.len());
        if self.children.is_empty() {
            return out;
        }
        let mut stack = vec![Visit {
            index: 0,
            depth: 0,
            last: true,
        }];
        while let Some(visit) = stack.pop() {
            if std::mem::replace(&mut seen[visit.index], true) {
                continue;
            }
            out.push(visit);
            let children = self.children(visit.index);
            // Pushed in reverse, so they pop in start order.
            for (n, &child) in children.iter().enumerate().rev() {
                stack.push(Visit {
                    index: child,
                    depth: visit.depth + 1,
                    last: n + 1 == children.len(),
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{Span, SpanKind};

    fn depths(trace: &Trace) -> Vec<(u64, usize, bool)> {
        Tree::of(trace)
            .walk()
            .into_iter()
            .map(|v| (trace.spans[v.index].id.0, v.depth, v.last))
            .collect()
    }

    #[test]
    fn walks_parents_before_children_in_start_order() {
        let trace = Trace::new(vec![
            Span::fixture(0, None, "root", SpanKind::Task),
            Span::fixture(1, Some(0), "a", SpanKind::Task),
            Span::fixture(2, Some(1), "a1", SpanKind::Llm),
            Span::fixture(3, Some(0), "b", SpanKind::Llm),
            Span::fixture(4, Some(1), "a2", SpanKind::Llm),
        ])
        .unwrap();
        assert_eq!(
            depths(&trace),
            [
                (0, 0, true),
                (1, 1, false),
                (2, 2, false),
                (4, 2, true),
                (3, 1, true)
            ]
        );
    }

    #[test]
    fn a_parent_cycle_or_a_missing_parent_ends_the_walk() {
        let cycle = Trace::new(vec![
            Span::fixture(0, Some(1), "root", SpanKind::Task),
            Span::fixture(1, Some(0), "a", SpanKind::Task),
            Span::fixture(2, Some(9), "orphan", SpanKind::Task),
        ])
        .unwrap();
        assert_eq!(depths(&cycle), [(0, 0, true), (1, 1, true)]);
    }

    #[test]
    fn a_chain_deeper_than_any_stack_is_walked() {
        let spans = (0..200_000)
            .map(|i| Span::fixture(i, i.checked_sub(1), "step", SpanKind::Task))
            .collect();
        let walk = Tree::of(&Trace::new(spans).unwrap()).walk();
        assert_eq!(walk.len(), 200_000);
        assert_eq!(walk.last().unwrap().depth, 199_999);
    }
}
