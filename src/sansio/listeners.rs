//! Tunnel event listeners: `on(type, fn)`, `off(type?, fn?)`, and which listeners an
//! event reaches (those of its type and the `*` ones, in registration order).

/// A listener and whether it is a `*` listener (which also receives the event type).
pub type Match<'a, F> = (&'a F, bool);

/// The `*` type: receives every event as `(type, payload)`.
pub const WILDCARD: &str = "*";

#[derive(Clone, Debug)]
pub struct Listeners<F> {
    list: Vec<(Box<str>, F)>,
}

impl<F> Default for Listeners<F> {
    fn default() -> Self {
        Listeners { list: Vec::new() }
    }
}

impl<F: PartialEq> Listeners<F> {
    pub fn on(&mut self, event: &str, f: F) {
        self.list.push((event.into(), f));
    }

    /// Remove listeners: of `event` only, or every type when `None`; the given `f`
    /// only, or all of them when `None`. Returns how many were removed.
    pub fn off(&mut self, event: Option<&str>, f: Option<&F>) -> usize {
        let before = self.list.len();
        self.list.retain(|(e, g)| {
            let type_hit = event.is_none_or(|want| &**e == want);
            let fn_hit = f.is_none_or(|want| g == want);
            !(type_hit && fn_hit)
        });
        before - self.list.len()
    }

    /// Every listener with its event type, in registration order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &F)> {
        self.list.iter().map(|(e, f)| (&**e, f))
    }

    /// The listeners `event` reaches, in registration order.
    pub fn matching<'a>(&'a self, event: &'a str) -> impl Iterator<Item = Match<'a, F>> + 'a {
        self.list.iter().filter_map(move |(e, f)| {
            if &**e == WILDCARD {
                Some((f, true))
            } else if &**e == event {
                Some((f, false))
            } else {
                None
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_wildcards_and_off() {
        let mut l = Listeners::default();
        l.on("speak", 1);
        l.on("*", 2);
        l.on("people", 3);
        l.on("speak", 4);
        let got: Vec<_> = l.matching("speak").map(|(f, w)| (*f, w)).collect();
        assert_eq!(got, vec![(1, false), (2, true), (4, false)]);
        let all: Vec<_> = l.iter().map(|(e, f)| (e.to_owned(), *f)).collect();
        assert_eq!(
            all,
            vec![
                ("speak".into(), 1),
                ("*".into(), 2),
                ("people".into(), 3),
                ("speak".into(), 4)
            ]
        );
        assert_eq!(l.off(Some("speak"), Some(&4)), 1);
        assert_eq!(l.off(Some("speak"), Some(&4)), 0);
        assert_eq!(l.off(Some("*"), None), 1);
        let got: Vec<_> = l.matching("speak").map(|(f, _)| *f).collect();
        assert_eq!(got, vec![1]);
        assert_eq!(l.off(None, Some(&3)), 1);
        assert_eq!(l.off(None, None), 1);
        assert_eq!(l.iter().count(), 0);
    }
}
