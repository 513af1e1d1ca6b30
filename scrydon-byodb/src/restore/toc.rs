//! The archive's table of contents, as `pg_restore -l` lists it.
//!
//! Each entry line is `<dump id>; <catalog oid> <oid> <DESC> <schema> <tag> <owner>`, with `-`
//! for no schema and an empty owner for objects without one; lines starting with `;` are
//! comments. That layout is `pg_restore`'s fixed output format (`PrintTOCSummary`).

use serde::Serialize;

/// The kinds of TOC entries the restore checks afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    /// `EXTENSION`.
    Extension,
    /// `SCHEMA`.
    Schema,
    /// `TABLE`.
    Table,
    /// `TABLE DATA`: the rows of a table.
    TableData,
    /// `INDEX`.
    Index,
    /// `SEQUENCE`.
    Sequence,
    /// `VIEW`.
    View,
    /// `MATERIALIZED VIEW`.
    MaterializedView,
    /// `FUNCTION`.
    Function,
    /// `COMMENT` on an extension: skipped on restore (only the extension's owner may comment on
    /// it, and the target's extensions belong to the administrator who created them).
    ExtensionComment,
    /// Anything else (constraints, defaults, sequence values, comments, ...).
    Other,
}

/// Longest first, so `TABLE DATA` wins over `TABLE`.
const DESCS: &[(&str, EntryKind)] = &[
    ("MATERIALIZED VIEW DATA", EntryKind::Other),
    ("MATERIALIZED VIEW", EntryKind::MaterializedView),
    ("TABLE ATTACH", EntryKind::Other),
    ("TABLE DATA", EntryKind::TableData),
    ("TABLE", EntryKind::Table),
    ("INDEX ATTACH", EntryKind::Other),
    ("INDEX", EntryKind::Index),
    ("SEQUENCE OWNED BY", EntryKind::Other),
    ("SEQUENCE SET", EntryKind::Other),
    ("SEQUENCE", EntryKind::Sequence),
    ("EXTENSION", EntryKind::Extension),
    ("SCHEMA", EntryKind::Schema),
    ("VIEW", EntryKind::View),
    ("FUNCTION", EntryKind::Function),
];

/// One TOC entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TocEntry {
    /// The dump id (what `-L` lists select by).
    pub dump_id: u32,
    /// What it is.
    pub kind: EntryKind,
    /// Its schema (`None` for `-`).
    pub schema: Option<String>,
    /// Its name (for functions, with the argument types).
    pub name: String,
    /// The raw line, as `-L` takes it back.
    #[serde(skip)]
    pub(crate) line: String,
}

/// Parses `pg_restore -l` output; lines it does not understand are kept as [`EntryKind::Other`]
/// when they carry a dump id, dropped otherwise.
pub(crate) fn parse(listing: &str) -> Vec<TocEntry> {
    listing.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<TocEntry> {
    if line.starts_with(';') || line.trim().is_empty() {
        return None;
    }
    let (id, rest) = line.split_once("; ")?;
    let dump_id: u32 = id.trim().parse().ok()?;
    // "<catalog oid> <oid> <rest>"
    let mut parts = rest.splitn(3, ' ');
    let _catalog = parts.next()?;
    let _oid = parts.next()?;
    let rest = parts.next()?;
    let (kind, after) = DESCS
        .iter()
        .find_map(|(desc, kind)| {
            rest.strip_prefix(desc)
                .and_then(|a| a.strip_prefix(' '))
                .map(|a| (*kind, a))
        })
        .unwrap_or((EntryKind::Other, ""));
    if kind == EntryKind::Other {
        let kind = if rest.starts_with("COMMENT - EXTENSION ") {
            EntryKind::ExtensionComment
        } else {
            EntryKind::Other
        };
        return Some(TocEntry {
            dump_id,
            kind,
            schema: None,
            name: String::new(),
            line: line.to_owned(),
        });
    }
    let (schema, tagged) = after.split_once(' ')?;
    // "<tag> <owner>": the owner is empty (a trailing space) for extensions and owner-less dumps.
    let name = match tagged.strip_suffix(' ') {
        Some(tag) => tag,
        None => tagged.rsplit_once(' ').map_or(tagged, |(tag, _owner)| tag),
    };
    let name = if kind == EntryKind::Extension || kind == EntryKind::Schema {
        // Extensions and schemas: "- <name> [owner]"; the name has no spaces worth keeping.
        name.split(' ').next().unwrap_or(name)
    } else {
        name
    };
    Some(TocEntry {
        dump_id,
        kind,
        schema: (schema != "-").then(|| schema.to_owned()),
        name: name.to_owned(),
        line: line.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pg_restore_listing() {
        let listing = ";\n; Archive created at 2026-11-24\n;\n\
            2; 3079 16385 EXTENSION - vector \n\
            3655; 0 0 COMMENT - EXTENSION vector \n\
            215; 1259 16712 TABLE public items scrydon\n\
            3648; 0 16712 TABLE DATA public items scrydon\n\
            3503; 1259 16720 INDEX public items_embedding_idx scrydon\n\
            3502; 2606 16719 CONSTRAINT public items items_pkey scrydon\n";
        let toc = parse(listing);
        let kinds: Vec<_> = toc.iter().map(|e| (e.kind, e.name.as_str())).collect();
        assert_eq!(
            kinds,
            vec![
                (EntryKind::Extension, "vector"),
                (EntryKind::ExtensionComment, ""),
                (EntryKind::Table, "items"),
                (EntryKind::TableData, "items"),
                (EntryKind::Index, "items_embedding_idx"),
                (EntryKind::Other, ""),
            ]
        );
        assert_eq!(toc[2].schema.as_deref(), Some("public"));
        assert_eq!(toc[0].schema, None);
    }
}
