//! PostgreSQL's `LIKE`: case-sensitive (SQLite's is not, for ASCII), with `\` as the escape
//! character unless `ESCAPE` names another (SQLite has none by default), `_` one character
//! and `%` any run of them. `ILIKE` is the same on lowercased text.

/// One piece of a pattern.
#[derive(Clone, Copy, PartialEq)]
enum Piece {
    Char(char),
    One,
    Any,
}

fn pieces(pattern: &str, escape: Option<char>) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            c if Some(c) == escape => Piece::Char(chars.next().unwrap_or(c)),
            '%' => Piece::Any,
            '_' => Piece::One,
            c => Piece::Char(c),
        });
    }
    out
}

/// Whether `text` matches `pattern`; `escape` is the escape character (`None` when the
/// query wrote `ESCAPE ''`).
pub(crate) fn like(text: &str, pattern: &str, escape: Option<char>, insensitive: bool) -> bool {
    let (text, pattern) = if insensitive {
        (text.to_lowercase(), pattern.to_lowercase())
    } else {
        (text.to_owned(), pattern.to_owned())
    };
    let text: Vec<char> = text.chars().collect();
    let pattern = pieces(&pattern, escape);
    // The usual wildcard walk: on a mismatch, go back to just after the last `%` and let it
    // take one more character.
    let (mut t, mut p) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some(Piece::Any) => {
                star = Some((p, t));
                p += 1;
            }
            Some(Piece::One) => {
                t += 1;
                p += 1;
            }
            Some(Piece::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    p = sp + 1;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|piece| *piece == Piece::Any)
}

#[cfg(test)]
mod tests {
    use super::like;

    #[test]
    fn like_is_postgresqls() {
        let m = |t, p| like(t, p, Some('\\'), false);
        assert!(m("Translate", "T%"));
        assert!(!m("Translate", "t%"));
        assert!(like("Translate", "t%", Some('\\'), true));
        assert!(m("production", "product_on"));
        assert!(!m("production", "product\\_on"));
        assert!(m("a_b", "a\\_b"));
        assert!(m("abcabc", "%bc%c"));
        assert!(!m("abc", "%d%"));
        assert!(m("", "%"));
        assert!(!m("", "_"));
        assert!(!m("50%", "50!%"));
        assert!(like("50%", "50!%", Some('!'), false));
        assert!(!like("50x", "50!%", Some('!'), false));
        assert!(m("été", "_t_"));
    }
}
