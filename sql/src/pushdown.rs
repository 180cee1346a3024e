//! What a bounded query's filters tell the scan: an `arrival_time` range (the
//! engine's time index finds where to start; a shard's read stops past the end), the
//! shards named by `shard_id`, and the shards `partition_key = '...'` routes to.

use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use datafusion::scalar::ScalarValue;

/// What the filters allow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pushdown {
    /// Earliest arrival time, ms (inclusive).
    pub from_ms: Option<i64>,
    /// Latest arrival time, ms (inclusive).
    pub to_ms: Option<i64>,
    /// Only these shards.
    pub shards: Option<Vec<String>>,
    /// Only shards owning these partition keys.
    pub partition_keys: Option<Vec<String>>,
}

/// Whether the scan can use `e` (DataFusion still applies it: Inexact).
pub fn supported(e: &Expr) -> bool {
    let mut p = Pushdown::default();
    apply(&mut p, e)
}

/// Folds every usable filter into a [`Pushdown`].
pub fn analyze(filters: &[Expr]) -> Pushdown {
    let mut p = Pushdown::default();
    for f in filters {
        apply(&mut p, f);
    }
    p
}

fn column(e: &Expr) -> Option<&str> {
    match e {
        Expr::Column(c) => Some(c.name.as_str()),
        Expr::Cast(c) => column(&c.expr),
        Expr::TryCast(c) => column(&c.expr),
        _ => None,
    }
}

fn millis(v: &ScalarValue) -> Option<i64> {
    match v {
        ScalarValue::TimestampMillisecond(Some(v), _) => Some(*v),
        ScalarValue::TimestampSecond(Some(v), _) => v.checked_mul(1000),
        ScalarValue::TimestampMicrosecond(Some(v), _) => Some(v.div_euclid(1000)),
        ScalarValue::TimestampNanosecond(Some(v), _) => Some(v.div_euclid(1_000_000)),
        _ => None,
    }
}

fn text(v: &ScalarValue) -> Option<String> {
    match v {
        ScalarValue::Utf8(Some(s))
        | ScalarValue::LargeUtf8(Some(s))
        | ScalarValue::Utf8View(Some(s)) => Some(s.clone()),
        _ => None,
    }
}

fn literal(e: &Expr) -> Option<&ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v),
        _ => None,
    }
}

fn narrow(set: &mut Option<Vec<String>>, values: Vec<String>) {
    *set = Some(match set.take() {
        Some(old) => old.into_iter().filter(|v| values.contains(v)).collect(),
        None => values,
    });
}

fn apply(p: &mut Pushdown, e: &Expr) -> bool {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (col, op, v) = match (column(left), literal(right), column(right), literal(left)) {
                (Some(c), Some(v), _, _) => (c, *op, v),
                (_, _, Some(c), Some(v)) => match op.swap() {
                    Some(op) => (c, op, v),
                    None => return false,
                },
                _ => return false,
            };
            match (col, op) {
                ("arrival_time", Operator::GtEq | Operator::Gt) => match millis(v) {
                    Some(ms) => {
                        let ms = if op == Operator::Gt {
                            ms.saturating_add(1)
                        } else {
                            ms
                        };
                        p.from_ms = Some(p.from_ms.map_or(ms, |f| f.max(ms)));
                        true
                    }
                    None => false,
                },
                ("arrival_time", Operator::LtEq | Operator::Lt) => match millis(v) {
                    Some(ms) => {
                        let ms = if op == Operator::Lt {
                            ms.saturating_sub(1)
                        } else {
                            ms
                        };
                        p.to_ms = Some(p.to_ms.map_or(ms, |t| t.min(ms)));
                        true
                    }
                    None => false,
                },
                ("arrival_time", Operator::Eq) => match millis(v) {
                    Some(ms) => {
                        p.from_ms = Some(p.from_ms.map_or(ms, |f| f.max(ms)));
                        p.to_ms = Some(p.to_ms.map_or(ms, |t| t.min(ms)));
                        true
                    }
                    None => false,
                },
                ("shard_id", Operator::Eq) => match text(v) {
                    Some(s) => {
                        narrow(&mut p.shards, vec![s]);
                        true
                    }
                    None => false,
                },
                ("partition_key", Operator::Eq) => match text(v) {
                    Some(s) => {
                        narrow(&mut p.partition_keys, vec![s]);
                        true
                    }
                    None => false,
                },
                _ => false,
            }
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) if column(expr) == Some("arrival_time") => {
            match (
                literal(low).and_then(millis),
                literal(high).and_then(millis),
            ) {
                (Some(lo), Some(hi)) => {
                    p.from_ms = Some(p.from_ms.map_or(lo, |f| f.max(lo)));
                    p.to_ms = Some(p.to_ms.map_or(hi, |t| t.min(hi)));
                    true
                }
                _ => false,
            }
        }
        Expr::InList(l) if !l.negated => {
            let col = column(&l.expr);
            let values: Option<Vec<String>> =
                l.list.iter().map(|e| literal(e).and_then(text)).collect();
            match (col, values) {
                (Some("shard_id"), Some(v)) => {
                    narrow(&mut p.shards, v);
                    true
                }
                (Some("partition_key"), Some(v)) => {
                    narrow(&mut p.partition_keys, v);
                    true
                }
                _ => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::prelude::{col, lit};

    #[test]
    fn ranges_shards_and_keys() {
        let ts = |ms| {
            lit(ScalarValue::TimestampMillisecond(
                Some(ms),
                Some("UTC".into()),
            ))
        };
        let p = analyze(&[
            col("arrival_time").gt_eq(ts(100)),
            ts(200).gt(col("arrival_time")),
            col("shard_id").eq(lit("shardId-000000000001")),
            col("partition_key").in_list(vec![lit("a"), lit("b")], false),
            col("other").eq(lit(1)),
        ]);
        assert_eq!(p.from_ms, Some(100));
        assert_eq!(p.to_ms, Some(199));
        assert_eq!(p.shards, Some(vec!["shardId-000000000001".to_string()]));
        assert_eq!(
            p.partition_keys,
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert!(!supported(&col("other").eq(lit(1))));
    }
}
