//! What configuration errors say: where a key was set (file and line, environment variable,
//! secret file) and serde's messages in plain words, with a "did you mean" for unknown keys.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where the values of the configuration came from, to name in messages and in
/// `check-config`.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// The file read, if any.
    pub file: Option<PathBuf>,
    /// Dotted key (`worker.lease_seconds`, `dashboard.backends[1].name`) → line in the file.
    pub lines: BTreeMap<String, usize>,
    /// Dotted key → the `FEDORA_CI_…` variable that set it.
    pub env: BTreeMap<String, String>,
    /// Secret key → the file it was read from (`<key>_file`).
    pub secret_files: BTreeMap<String, PathBuf>,
}

impl Sources {
    /// " (in FILE, line N)", " (from FEDORA_CI_X)", " (read from FILE)" or "" for `key`: the
    /// most specific source known, falling back to the tables around the key.
    pub fn describe(&self, key: &str) -> String {
        let mut key = key;
        loop {
            if let Some(var) = self.env.get(key) {
                return format!(" (from {var})");
            }
            if let Some(path) = self.secret_files.get(key) {
                return format!(" (read from {})", path.display());
            }
            if let Some(line) = self.lines.get(key) {
                return match &self.file {
                    Some(path) => format!(" (in {}, line {line})", path.display()),
                    None => format!(" (line {line})"),
                };
            }
            match parent(key) {
                Some(outer) => key = outer,
                // Not set anywhere: a default, or a combination of keys.
                None => return String::new(),
            }
        }
    }
}

/// `a.b[2].c` → `a.b[2]` → `a.b` → `a`.
fn parent(key: &str) -> Option<&str> {
    let cut = key.rfind(['.', '['])?;
    Some(&key[..cut])
}

/// Every key of `text` (a TOML document) with the line it is written on, 1-based.
pub fn key_lines(text: &str) -> BTreeMap<String, usize> {
    let mut lines = BTreeMap::new();
    if let Ok(table) = toml::de::DeTable::parse(text) {
        collect_lines(text, "", table.get_ref(), &mut lines);
    }
    lines
}

fn collect_lines(
    text: &str,
    prefix: &str,
    table: &toml::de::DeTable<'_>,
    out: &mut BTreeMap<String, usize>,
) {
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.get_ref().to_string()
        } else {
            format!("{prefix}.{}", key.get_ref())
        };
        out.entry(path.clone())
            .or_insert_with(|| line_of(text, key.span().start));
        match value.get_ref() {
            toml::de::DeValue::Table(inner) => collect_lines(text, &path, inner, out),
            toml::de::DeValue::Array(items) => {
                for (index, item) in items.iter().enumerate() {
                    let entry = format!("{path}[{index}]");
                    out.entry(entry.clone())
                        .or_insert_with(|| line_of(text, item.span().start));
                    if let toml::de::DeValue::Table(inner) = item.get_ref() {
                        collect_lines(text, &entry, inner, out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// A TOML syntax error as " , line L, column C" and its message, without the quoted source
/// line toml's `Display` adds (it may hold a secret).
pub fn syntax_error(text: &str, error: &toml::de::Error) -> (String, String) {
    let at = match error.span() {
        Some(span) => {
            // Spans are at character boundaries; a slice that is not gives no column.
            let before = text.get(..span.start.min(text.len())).unwrap_or_default();
            let start = before.len();
            let line_start = before.rfind('\n').map_or(0, |at| at + 1);
            let column = before.get(line_start..).unwrap_or_default().chars().count() + 1;
            format!(", line {}, column {column}", line_of(text, start))
        }
        None => String::new(),
    };
    let message = error.message().trim().trim_end_matches('.').to_owned();
    (at, message)
}

/// serde's message about `key` in plain words: "expected a whole number, got \"abc\"" for
/// "invalid type: string \"abc\", expected u64"; for an unknown key, the nearest known one.
/// `extra_keys` are keys of the table serde does not list (the `<secret>_file` forms).
pub fn plain_words(message: &str, extra_keys: &[String]) -> String {
    let message = message.lines().next().unwrap_or_default().trim();
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (field, rest) = rest.split_once('`').unwrap_or((rest, ""));
        let mut known = quoted_names(rest);
        known.extend(extra_keys.iter().cloned());
        return match nearest(field, &known) {
            Some(near) => format!("unknown key; did you mean `{near}`?"),
            None if known.is_empty() => "unknown key; this table has no keys".to_owned(),
            None => format!("unknown key; the keys here are {}", list(&known)),
        };
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (value, rest) = rest.split_once('`').unwrap_or((rest, ""));
        let allowed = quoted_names(rest);
        let hint = nearest(value, &allowed)
            .map(|near| format!("; did you mean \"{near}\"?"))
            .unwrap_or_default();
        let allowed: Vec<String> = allowed.iter().map(|name| format!("\"{name}\"")).collect();
        return format!(
            "expected one of {}, got \"{value}\"{hint}",
            allowed.join(", ")
        );
    }
    if let Some(field) = message.strip_prefix("missing field `") {
        let field = field.split('`').next().unwrap_or(field);
        return format!("missing key `{field}`");
    }
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((got, expected)) = rest.rsplit_once(", expected ")
        {
            return format!(
                "expected {}, got {}",
                expected_words(expected),
                got_words(got)
            );
        }
    }
    if let Some(rest) = message.strip_prefix("invalid length ")
        && let Some((got, expected)) = rest.split_once(", expected ")
    {
        return format!("expected {}, got {got} entries", expected_words(expected));
    }
    message.to_owned()
}

fn expected_words(expected: &str) -> String {
    let words = match expected.trim() {
        "u8" => "a whole number from 0 to 255",
        "u16" => "a whole number from 0 to 65535",
        "u32" => "a whole number from 0 to 4294967295",
        "u64" | "usize" | "u128" => "a whole number (0 or more)",
        "i8" | "i16" | "i32" | "i64" | "isize" | "i128" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" => "true or false",
        "a string" | "path string" | "a borrowed string" => "a string (in quotes)",
        "a sequence" => "a list ([…])",
        "a map" => "a table",
        "a character" | "a char" => "a single character",
        other if other.starts_with("struct ") => "a table",
        other if other.starts_with("a sequence") || other.starts_with("tuple") => "a list ([…])",
        other => return other.to_owned(),
    };
    words.to_owned()
}

fn got_words(got: &str) -> String {
    let got = got.trim();
    for prefix in ["integer ", "floating point ", "boolean ", "char "] {
        if let Some(value) = got.strip_prefix(prefix) {
            return value.trim_matches('`').to_owned();
        }
    }
    if let Some(value) = got.strip_prefix("string ") {
        return value.to_owned();
    }
    match got {
        "sequence" => "a list".to_owned(),
        "map" => "a table".to_owned(),
        "unit value" => "nothing".to_owned(),
        other => other.to_owned(),
    }
}

/// The names in backticks in `text`: "expected one of `a`, `b`" → [a, b].
fn quoted_names(text: &str) -> Vec<String> {
    text.split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

fn list(names: &[String]) -> String {
    let quoted: Vec<String> = names.iter().map(|name| format!("`{name}`")).collect();
    quoted.join(", ")
}

/// The known name closest to `wanted`, if it is close enough to be a typo, or else the one
/// known name that is `wanted` with a word added (`url` → `api_url`).
pub fn nearest<'a>(wanted: &str, known: &'a [String]) -> Option<&'a str> {
    let wanted_lower = wanted.to_lowercase();
    let typo = known
        .iter()
        .map(|name| (edit_distance(&wanted_lower, &name.to_lowercase()), name))
        .filter(|(distance, name)| {
            let longest = wanted.chars().count().max(name.chars().count());
            *distance <= 2 || *distance * 3 <= longest
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name.as_str());
    if typo.is_some() || wanted.is_empty() {
        return typo;
    }
    let mut extended = known.iter().filter(|name| {
        name.ends_with(&format!("_{wanted_lower}")) || name.starts_with(&format!("{wanted_lower}_"))
    });
    match (extended.next(), extended.next()) {
        (Some(only), None) => Some(only.as_str()),
        _ => None,
    }
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}
