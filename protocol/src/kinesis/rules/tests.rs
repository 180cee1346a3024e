use super::*;
use proptest::prelude::*;

/// The model's expression as the regex crate reads it, matched whole as Java's
/// `String.matches` does.
fn reference(p: &Pattern) -> regex::Regex {
    let body = p.regex.trim_start_matches('^');
    regex::Regex::new(&format!("^(?:{body})$")).unwrap_or_else(|e| panic!("{e}"))
}

const PATTERNS: [&Pattern; 6] = [
    &NAME_PATTERN,
    &HASH_KEY_PATTERN,
    &SEQUENCE_NUMBER_PATTERN,
    &STREAM_ARN_PATTERN,
    &RESOURCE_ARN_PATTERN,
    &CONSUMER_ARN_PATTERN,
];

/// Pieces ARNs are made of, so that generated texts come near every pattern. No
/// Unicode whitespace, digits or line terminators beyond `\n`: the regex crate's
/// classes are Unicode-aware where Java's are not.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("arn".to_string()),
        Just("arn:aws".to_string()),
        Just(":aws-cn".to_string()),
        Just(":kinesis:".to_string()),
        Just("us-east-1".to_string()),
        Just(":".to_string()),
        Just("000000000000".to_string()),
        Just("12345678901".to_string()),
        Just(":stream/".to_string()),
        Just("stream/".to_string()),
        Just("/consumer/".to_string()),
        Just("/".to_string()),
        Just("my.stream-1".to_string()),
        Just("c_1".to_string()),
        Just("1700000000".to_string()),
        Just("0".to_string()),
        Just(" ".to_string()),
        Just("\t".to_string()),
        Just("\n".to_string()),
        Just("é".to_string()),
        Just("😀".to_string()),
        "[a-z0-9:/._-]{0,4}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    proptest::collection::vec(piece(), 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn patterns_match_as_the_model_expression_does(s in text()) {
        static REFERENCES: std::sync::OnceLock<Vec<regex::Regex>> = std::sync::OnceLock::new();
        let refs = REFERENCES.get_or_init(|| PATTERNS.iter().map(|p| reference(p)).collect());
        for (p, r) in PATTERNS.iter().zip(refs) {
            prop_assert_eq!((p.matches)(&s), r.is_match(&s), "{} on {:?}", p.regex, s);
        }
    }

    #[test]
    fn hash_keys_parse_as_u128_does(n in any::<u128>(), extra in 0u8..10) {
        prop_assert_eq!(hash_key(&n.to_string()), Ok(n));
        let over = format!("{n}{extra}");
        let want = over.parse::<u128>().map_err(|_| HashKeyViolation::OutOfRange);
        if n != 0 && over.len() <= 39 {
            prop_assert_eq!(hash_key(&over), want);
        }
    }
}

#[test]
fn known_arns() {
    let stream = "arn:aws:kinesis:us-east-1:000000000000:stream/s-1";
    let consumer = "arn:aws:kinesis:us-east-1:000000000000:stream/s-1/consumer/c.1:1700000000";
    assert!((STREAM_ARN_PATTERN.matches)(stream));
    assert!((RESOURCE_ARN_PATTERN.matches)(stream));
    assert!((CONSUMER_ARN_PATTERN.matches)(consumer));
    assert!((RESOURCE_ARN_PATTERN.matches)(consumer));
    assert!((STREAM_ARN_PATTERN.matches)(consumer));
    for bad in [
        "",
        "arn:aws:s3:::bucket",
        "arn:aws:kinesis:us-east-1:0000:stream/s",
        "arn:aws:kinesis:us-east-1:000000000000:stream/",
        "arn:aws:kinesis:us-east-1:000000000000:stream/a b",
    ] {
        assert!(!(STREAM_ARN_PATTERN.matches)(bad), "{bad}");
    }
    assert!(!(CONSUMER_ARN_PATTERN.matches)(stream));
    assert_eq!(stream_arn_resource(stream), Some("s-1"));
    assert_eq!(
        stream_arn_resource(consumer),
        Some("s-1/consumer/c.1:1700000000")
    );
    assert_eq!(resource_arn_resource(stream), Some("s-1"));
    assert_eq!(
        consumer_arn(consumer),
        Some(ConsumerArn {
            stream: "s-1",
            consumer: "c.1",
            created: "1700000000"
        })
    );
    assert!(!(CONSUMER_ARN_PATTERN.matches)(
        "arn:aws:kinesis:us-east-1:000000000000:stream/s/consumer/c:x"
    ));
}

#[test]
fn long_texts_are_decided_in_linear_time() {
    // Many candidate positions for every part of the expression.
    let s = format!(
        "arn:aws:kinesis:{}x y",
        ":000000000000:stream/".repeat(100_000)
    );
    assert!(!(STREAM_ARN_PATTERN.matches)(&s));
    assert!(!(RESOURCE_ARN_PATTERN.matches)(&s));
    assert!(!(CONSUMER_ARN_PATTERN.matches)(&s));
    let colons = ":".repeat(1_000_000);
    assert!(!(STREAM_ARN_PATTERN.matches)(&colons));
}

#[test]
fn request_size() {
    assert_eq!(put_records_size(MAX_PUT_RECORDS_REQUEST_BYTES), Ok(()));
    assert_eq!(
        put_records_size(MAX_PUT_RECORDS_REQUEST_BYTES + 1),
        Err(RequestTooLarge {
            bytes: MAX_PUT_RECORDS_REQUEST_BYTES + 1
        })
    );
}
