//! Schema inference, when `SchemaConfiguration.TableName` names no inline schema: the
//! columns are the union of the keys of an object's records, in first-seen order.
//!
//! Types: an integer is `bigint`, unless a value of the same key has a fraction or an
//! exponent (then `double`); a string `string`; `true`/`false` `boolean`; an object a
//! `struct` of its keys (inferred the same way; an object that only ever is `{}` is a
//! `string` holding its JSON); an array an `array` of its elements' type; a key only ever
//! `null` (or `[]`'s element) `string`. Values of conflicting kinds (a number here, a
//! string there) make the column a `string`, which holds any value as its JSON text, so
//! that no record fails for the schema it helped infer.

use super::coerce::KeyMatching;
use super::json::{Json, Object};
use super::schema::{Column, HiveType, MAX_NESTING};

/// A type being inferred.
#[derive(Debug, Clone, PartialEq)]
enum Inferred {
    /// Only `null` seen so far.
    Unknown,
    Boolean,
    BigInt,
    Double,
    String,
    Array(Box<Inferred>),
    /// Fields by normalized key, in first-seen order.
    Struct(Vec<(String, Inferred)>),
}

/// Accumulates the columns of the objects it is shown.
pub(crate) struct Inference<'k> {
    keys: &'k KeyMatching,
    /// For `ColumnToJsonKeyMappings`: (normalized JSON key, column name).
    renames: &'k [(String, String)],
    columns: Vec<(String, Inferred)>,
    /// Normalized key to index in `columns`.
    index: std::collections::HashMap<String, usize>,
    /// Where the next key of the record is likely to be in `columns`.
    hint: usize,
}

impl<'k> Inference<'k> {
    /// An empty inference matching keys by `keys`, naming a column after the
    /// `ColumnToJsonKeyMappings` entry whose JSON key it is, if any.
    pub(crate) fn new(keys: &'k KeyMatching, renames: &'k [(String, String)]) -> Self {
        Inference {
            keys,
            renames,
            columns: Vec::new(),
            index: std::collections::HashMap::new(),
            hint: 0,
        }
    }

    /// Adds one object's keys and values.
    pub(crate) fn add(&mut self, object: &Object<'_>) {
        self.hint = 0;
        for (key, value) in object {
            self.add_member(key, value);
        }
    }

    fn add_member(&mut self, key: &str, value: &Json) {
        let name = self.keys.normalize(key);
        let name = match self.renames.iter().find(|(json_key, _)| *json_key == name) {
            Some((_, column)) => self.keys.normalize(column),
            None => name,
        };
        // Records mostly repeat the keys of the one before, in the same order.
        let at = match self.columns.get(self.hint) {
            Some((column, _)) if *column == name => self.hint,
            _ => match self.index.get(name.as_ref()) {
                Some(&at) => at,
                None => {
                    self.index.insert(name.to_string(), self.columns.len());
                    self.columns.push((name.into_owned(), Inferred::Unknown));
                    self.columns.len() - 1
                }
            },
        };
        self.hint = at + 1;
        let merged = merge(
            std::mem::replace(&mut self.columns[at].1, Inferred::Unknown),
            value,
            self.keys,
        );
        self.columns[at].1 = merged;
    }

    /// The inferred columns.
    pub(crate) fn finish(self) -> Vec<Column> {
        self.columns
            .into_iter()
            .map(|(name, ty)| Column {
                name,
                ty: resolve(ty, 1),
            })
            .collect()
    }
}

/// The type of `seen` and `value` together.
fn merge(seen: Inferred, value: &Json, keys: &KeyMatching) -> Inferred {
    match (seen, value) {
        (seen, Json::Null) => seen,
        (Inferred::String, _) => Inferred::String,
        (Inferred::Unknown, Json::Bool(_)) | (Inferred::Boolean, Json::Bool(_)) => {
            Inferred::Boolean
        }
        (Inferred::Unknown, Json::Int(_)) | (Inferred::BigInt, Json::Int(_)) => Inferred::BigInt,
        (
            Inferred::Unknown | Inferred::BigInt | Inferred::Double,
            Json::Int(_) | Json::UInt(_) | Json::Float(_),
        ) => Inferred::Double,
        (Inferred::Unknown, Json::Str(_)) => Inferred::String,
        (Inferred::Unknown, Json::Array(items)) => Inferred::Array(Box::new(
            items
                .iter()
                .fold(Inferred::Unknown, |t, item| merge(t, item, keys)),
        )),
        (Inferred::Array(element), Json::Array(items)) => Inferred::Array(Box::new(
            items.iter().fold(*element, |t, item| merge(t, item, keys)),
        )),
        (Inferred::Unknown, Json::Object(members)) => merge_object(Vec::new(), members, keys),
        (Inferred::Struct(fields), Json::Object(members)) => merge_object(fields, members, keys),
        _ => Inferred::String,
    }
}

fn merge_object(
    mut fields: Vec<(String, Inferred)>,
    members: &Object<'_>,
    keys: &KeyMatching,
) -> Inferred {
    for (key, value) in members {
        let name = keys.normalize(key);
        match fields.iter().position(|(n, _)| *n == name) {
            Some(at) => {
                let merged = merge(
                    std::mem::replace(&mut fields[at].1, Inferred::Unknown),
                    value,
                    keys,
                );
                fields[at].1 = merged;
            }
            None => fields.push((name.into_owned(), merge(Inferred::Unknown, value, keys))),
        }
    }
    Inferred::Struct(fields)
}

/// The Hive type of an inferred type at `depth` levels of nesting (a column's own type
/// is at 1); beyond [`MAX_NESTING`], a `string` holding the JSON.
fn resolve(ty: Inferred, depth: usize) -> HiveType {
    match ty {
        Inferred::Unknown | Inferred::String => HiveType::String,
        Inferred::Boolean => HiveType::Boolean,
        Inferred::BigInt => HiveType::BigInt,
        Inferred::Double => HiveType::Double,
        Inferred::Array(_) | Inferred::Struct(_) if depth >= MAX_NESTING => HiveType::String,
        Inferred::Array(element) => HiveType::Array(Box::new(resolve(*element, depth + 1))),
        Inferred::Struct(fields) if fields.is_empty() => HiveType::String,
        Inferred::Struct(fields) => HiveType::Struct(
            fields
                .into_iter()
                .map(|(name, ty)| Column {
                    name,
                    ty: resolve(ty, depth + 1),
                })
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::json::parse_record;
    use super::*;

    fn infer(records: &[&str], keys: KeyMatching, renames: &[(String, String)]) -> String {
        let mut inference = Inference::new(&keys, renames);
        for record in records {
            let mut objects = Vec::new();
            parse_record(record.as_bytes(), &mut objects).unwrap();
            for object in &objects {
                inference.add(object);
            }
        }
        HiveType::Struct(inference.finish()).to_string()
    }

    const CI: KeyMatching = KeyMatching {
        case_insensitive: true,
        dots_to_underscores: false,
    };

    #[test]
    fn union_of_keys_in_first_seen_order() {
        let records = [
            r#"{"id":1,"Name":"a","n":null}"#,
            r#"{"score":2.5,"id":2,"tags":["x"],"user":{"Age":3}}"#,
            r#"{"score":3,"name":"b","n":null,"user":{"age":null,"city":"c"},"flag":true,"empty":{},"none":[]}"#,
        ];
        assert_eq!(
            infer(&records, CI, &[]),
            "struct<id:bigint,name:string,n:string,score:double,tags:array<string>,\
             user:struct<age:bigint,city:string>,flag:boolean,empty:string,none:array<string>>"
        );
    }

    #[test]
    fn bigint_becomes_double_and_conflicts_become_string() {
        let records = [
            r#"{"a":1,"b":1,"c":[1,2.5],"d":{"x":1}}"#,
            r#"{"a":1.5,"b":"1","c":[3],"d":5}"#,
        ];
        assert_eq!(
            infer(&records, CI, &[]),
            "struct<a:double,b:string,c:array<double>,d:string>"
        );
    }

    #[test]
    fn deep_values_become_strings() {
        let deep = format!(r#"{{"a":{}1{}}}"#, "[".repeat(40), "]".repeat(40));
        let want = format!(
            "struct<a:{}string{}>",
            "array<".repeat(MAX_NESTING - 1),
            ">".repeat(MAX_NESTING - 1)
        );
        assert_eq!(infer(&[&deep], CI, &[]), want);
    }

    #[test]
    fn keys_follow_the_matching_rules() {
        let exact = KeyMatching {
            case_insensitive: false,
            dots_to_underscores: true,
        };
        assert_eq!(
            infer(&[r#"{"A.b":1,"a_b":2,"a":true}"#], exact.clone(), &[]),
            "struct<A_b:bigint,a_b:bigint,a:boolean>"
        );
        let renames = [("timestamp".to_string(), "ts".to_string())];
        assert_eq!(
            infer(&[r#"{"Timestamp":1}"#], CI, &renames),
            "struct<ts:bigint>"
        );
    }
}
