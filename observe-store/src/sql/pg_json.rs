//! JSON as PostgreSQL prints it: `jsonb` (its spacing, key order and numbers), a JSON
//! array as a PostgreSQL array, and a JSON fragment as `->>` gives it, from the JSON text
//! the SQLite store holds.

use serde_json::Value as Json;

/// JSON text as PostgreSQL prints `jsonb`: `": "` and `", "` between parts, an object's
/// keys shortest first, then by their bytes (its storage order), the last of a repeated
/// key kept, strings with only the escapes JSON needs, and numbers as `numeric` prints
/// them (as written, an exponent spelled out: `1e-7` as `0.0000001`). `None` for text
/// that is not JSON.
pub(crate) fn jsonb(text: &str) -> Option<String> {
    let mut reader = JsonReader {
        text,
        at: 0,
        depth: 0,
    };
    let mut out = String::new();
    reader.value(&mut out)?;
    reader.space();
    (reader.at == text.len()).then_some(out)
}

/// A reader of JSON text that writes it back as `jsonb` prints it.
struct JsonReader<'a> {
    text: &'a str,
    at: usize,
    /// Arrays and objects open around the cursor.
    depth: usize,
}

/// Deeper JSON is shown as stored: the reader recurses, and a file may hold anything.
const MAX_DEPTH: usize = 200;

impl JsonReader<'_> {
    fn space(&mut self) {
        let rest = &self.text[self.at..];
        self.at += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, c: u8) -> bool {
        self.space();
        let hit = self.text.as_bytes().get(self.at) == Some(&c);
        self.at += usize::from(hit);
        hit
    }

    fn value(&mut self, out: &mut String) -> Option<()> {
        self.space();
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let done = self.value_here(out);
        self.depth -= 1;
        done
    }

    fn value_here(&mut self, out: &mut String) -> Option<()> {
        match *self.text.as_bytes().get(self.at)? {
            b'{' => self.object(out),
            b'[' => {
                self.at += 1;
                out.push('[');
                if !self.eat(b']') {
                    loop {
                        self.value(out)?;
                        if self.eat(b']') {
                            break;
                        }
                        self.eat(b',').then_some(())?;
                        out.push_str(", ");
                    }
                }
                out.push(']');
                Some(())
            }
            b'"' => {
                let s = self.string()?;
                out.push_str(&serde_json::to_string(&s).ok()?);
                Some(())
            }
            _ => {
                let rest = &self.text[self.at..];
                let end = rest
                    .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '+' | '.')))
                    .unwrap_or(rest.len());
                let token = &rest[..end];
                self.at += end;
                match token {
                    "true" | "false" | "null" => out.push_str(token),
                    number => out.push_str(&plain_number(number)?),
                }
                Some(())
            }
        }
    }

    fn object(&mut self, out: &mut String) -> Option<()> {
        self.at += 1;
        let mut members: Vec<(String, String)> = Vec::new();
        if !self.eat(b'}') {
            loop {
                self.space();
                let key = self.string()?;
                self.eat(b':').then_some(())?;
                let mut value = String::new();
                self.value(&mut value)?;
                members.retain(|(k, _)| *k != key);
                members.push((key, value));
                if self.eat(b'}') {
                    break;
                }
                self.eat(b',').then_some(())?;
            }
        }
        members.sort_by(|(a, _), (b, _)| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
        out.push('{');
        for (i, (key, value)) in members.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            out.push_str(&serde_json::to_string(key).ok()?);
            out.push_str(": ");
            out.push_str(value);
        }
        out.push('}');
        Some(())
    }

    /// A JSON string at the cursor, decoded.
    fn string(&mut self) -> Option<String> {
        let rest = self.text.get(self.at..)?;
        let mut escaped = false;
        let len = rest.char_indices().skip(1).find_map(|(i, c)| {
            let end = c == '"' && !escaped;
            escaped = c == '\\' && !escaped;
            end.then_some(i + 1)
        })?;
        self.at += len;
        serde_json::from_str(&rest[..len]).ok()
    }
}

/// A JSON number as PostgreSQL's `numeric` prints it: as written, but an exponent spelled
/// out (`1.5e3` as `1500`, `1e-7` as `0.0000001`).
fn plain_number(token: &str) -> Option<String> {
    let (mantissa, exponent) = match token.find(['e', 'E']) {
        Some(i) => (&token[..i], token[i + 1..].parse::<i64>().ok()?),
        None => return token.parse::<f64>().ok().map(|_| token.to_owned()),
    };
    // Past numeric's range PostgreSQL refuses the number; here it stays as written.
    if exponent.abs() > 1000 {
        return Some(token.to_owned());
    }
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => ("-", m),
        None => ("", mantissa),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits = format!("{int}{frac}");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let point = int.len() as i64 + exponent;
    let plain = if point <= 0 {
        format!("0.{}{digits}", "0".repeat(point.unsigned_abs() as usize))
    } else if point as usize >= digits.len() {
        format!("{digits}{}", "0".repeat(point as usize - digits.len()))
    } else {
        format!(
            "{}.{}",
            &digits[..point as usize],
            &digits[point as usize..]
        )
    };
    let trimmed = plain.trim_start_matches('0');
    let plain = if trimmed.is_empty() || trimmed.starts_with('.') {
        format!("0{trimmed}")
    } else {
        trimmed.to_owned()
    };
    Some(format!("{sign}{plain}"))
}

/// A JSON array as PostgreSQL prints an array: `{a,b}`, an element quoted when it is
/// empty, `NULL`, or holds a space, a comma, a quote, a backslash or a brace.
pub(crate) fn array(text: &str) -> Option<String> {
    let Ok(Json::Array(items)) = serde_json::from_str::<Json>(text) else {
        return None;
    };
    let mut out = String::from("{");
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let element = match item {
            Json::Null => {
                out.push_str("NULL");
                continue;
            }
            Json::String(s) => s.clone(),
            Json::Array(_) => array(&item.to_string()).unwrap_or_default(),
            Json::Object(_) => jsonb(&item.to_string()).unwrap_or_default(),
            Json::Bool(b) => (if *b { "t" } else { "f" }).to_owned(),
            other => other.to_string(),
        };
        let quote = element.is_empty()
            || element.eq_ignore_ascii_case("null")
            || (!matches!(item, Json::Array(_))
                && element
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, ',' | '"' | '\\' | '{' | '}')));
        if quote {
            out.push('"');
            out.push_str(&element.replace('\\', "\\\\").replace('"', "\\\""));
            out.push('"');
        } else {
            out.push_str(&element);
        }
    }
    out.push('}');
    Some(out)
}

/// A JSON fragment (what SQLite's `->` gives) as PostgreSQL's `->>` gives it: a string's
/// text, NULL for JSON null, numbers and booleans as written, objects and arrays as `jsonb`
/// prints them.
pub(crate) fn json_text(fragment: &str) -> Option<String> {
    match fragment.trim_start().as_bytes().first() {
        Some(b'"') => serde_json::from_str(fragment).ok(),
        _ if fragment.trim() == "null" => None,
        _ => jsonb(fragment).or_else(|| Some(fragment.trim().to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_prints_as_jsonb() {
        assert_eq!(
            jsonb(r#"{"priority":3,"a":[1,"x\u00e9\n"],"cc":{"k":null},"a":[]}"#).as_deref(),
            Some(r#"{"a": [], "cc": {"k": null}, "priority": 3}"#)
        );
        assert_eq!(
            jsonb(r#"[0.00041369999999999997,1e-7,-1.5E3,2.50,"a\"b"]"#).as_deref(),
            Some(r#"[0.00041369999999999997, 0.0000001, -1500, 2.50, "a\"b"]"#)
        );
        assert_eq!(jsonb(r#"["\u00e9\n"]"#).as_deref(), Some("[\"é\\n\"]"));
        assert_eq!(jsonb("{"), None);
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(jsonb(&deep), None);
        assert_eq!(jsonb("[1e99999]").as_deref(), Some("[1e99999]"));
        assert_eq!(json_text("3.0").as_deref(), Some("3.0"));
        assert_eq!(
            json_text(r#"{"b":1,"a":2}"#).as_deref(),
            Some(r#"{"a": 2, "b": 1}"#)
        );
        assert_eq!(json_text(r#""text""#).as_deref(), Some("text"));
        assert_eq!(json_text("true").as_deref(), Some("true"));
        assert_eq!(json_text("null"), None);
        assert_eq!(
            array(r#"["prod","needs review","",null,"a\"b"]"#).as_deref(),
            Some(r#"{prod,"needs review","",NULL,"a\"b"}"#)
        );
        assert_eq!(array("[]").as_deref(), Some("{}"));
    }
}
