//! Query-protocol replies: `<{Action}Response xmlns=...><{Action}Result>...</{Action}Result>
//! <ResponseMetadata><RequestId>...</RequestId></ResponseMetadata></{Action}Response>`,
//! text escaped with `quick_xml::escape::escape`, lists as `<member>` elements, and
//! policy documents URL-encoded as IAM writes them.

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// IAM's XML namespace.
pub const IAM_NS: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
/// STS's XML namespace.
pub const STS_NS: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// What IAM leaves unencoded in a policy document: letters, digits and `-_.~`
/// (everything else as `%XX`, spaces as `%20`: botocore decodes with `unquote`).
const DOCUMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A policy document as IAM returns it: URL-encoded.
pub fn encode_document(document: &str) -> String {
    utf8_percent_encode(document, DOCUMENT).to_string()
}

/// An XML fragment being written.
#[derive(Debug, Default)]
pub struct Xml {
    out: String,
}

impl Xml {
    /// An empty fragment.
    pub fn new() -> Xml {
        Xml::default()
    }

    /// Opens `<tag>`.
    pub fn open(&mut self, tag: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push('>');
        self
    }

    /// Closes `</tag>`.
    pub fn close(&mut self, tag: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(tag);
        self.out.push('>');
        self
    }

    /// `<tag>text</tag>`, the text escaped.
    pub fn leaf(&mut self, tag: &str, text: &str) -> &mut Self {
        self.open(tag);
        self.out.push_str(&quick_xml::escape::escape(text));
        self.close(tag)
    }

    /// [`leaf`](Self::leaf) when there is a value.
    pub fn leaf_opt(&mut self, tag: &str, text: Option<&str>) -> &mut Self {
        if let Some(t) = text {
            self.leaf(tag, t);
        }
        self
    }

    /// Escaped text (a list member that is a plain string).
    pub fn text(&mut self, text: &str) -> &mut Self {
        self.out.push_str(&quick_xml::escape::escape(text));
        self
    }

    /// `<tag>true</tag>` or `<tag>false</tag>`.
    pub fn boolean(&mut self, tag: &str, v: bool) -> &mut Self {
        self.leaf(tag, if v { "true" } else { "false" })
    }

    /// `<tag>n</tag>`.
    pub fn number(&mut self, tag: &str, n: i64) -> &mut Self {
        self.leaf(tag, &n.to_string())
    }

    /// `<tag/>`.
    pub fn empty(&mut self, tag: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(tag);
        self.out.push_str("/>");
        self
    }

    /// A list: `<tag><member>..</member>...</tag>`, each member written by `each`.
    pub fn list<T>(
        &mut self,
        tag: &str,
        items: impl IntoIterator<Item = T>,
        mut each: impl FnMut(&mut Xml, T),
    ) -> &mut Self {
        self.open(tag);
        for item in items {
            self.open("member");
            each(self, item);
            self.close("member");
        }
        self.close(tag)
    }

    /// `<IsTruncated>` and, when truncated, `<Marker>`: the tail of a paged list.
    pub fn page_end(&mut self, marker: Option<&str>) -> &mut Self {
        self.boolean("IsTruncated", marker.is_some());
        self.leaf_opt("Marker", marker)
    }

    /// The text so far.
    pub fn into_string(self) -> String {
        self.out
    }
}

/// A whole reply document. `result`: the content of `<{action}Result>`, or `None` for
/// actions whose output has no result element (DeleteRole, ...).
pub fn document(namespace: &str, action: &str, request_id: &str, result: Option<Xml>) -> String {
    let mut x = Xml::new();
    x.out
        .push_str(&format!("<{action}Response xmlns=\"{namespace}\">"));
    if let Some(r) = result {
        let tag = format!("{action}Result");
        if r.out.is_empty() {
            x.empty(&tag);
        } else {
            x.open(&tag);
            x.out.push_str(&r.out);
            x.close(&tag);
        }
    }
    x.open("ResponseMetadata")
        .leaf("RequestId", request_id)
        .close("ResponseMetadata");
    x.close(&format!("{action}Response"));
    x.out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_encoded_as_iam_does() {
        let doc = r#"{"Version": "2012-10-17", "Statement": [{"Action": "sts:AssumeRole"}]}"#;
        let enc = encode_document(doc);
        assert_eq!(
            enc,
            "%7B%22Version%22%3A%20%222012-10-17%22%2C%20%22Statement%22%3A%20%5B%7B%22Action%22%3A%20%22sts%3AAssumeRole%22%7D%5D%7D"
        );
        assert!(!enc.contains('+'));
        assert_eq!(encode_document("é"), "%C3%A9");
    }

    #[test]
    fn replies_have_aws_envelopes() {
        let mut r = Xml::new();
        r.open("Role").leaf("RoleName", "a<b&c").close("Role");
        let doc = document(IAM_NS, "GetRole", "rid-1", Some(r));
        assert_eq!(
            doc,
            "<GetRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><GetRoleResult><Role><RoleName>a&lt;b&amp;c</RoleName></Role></GetRoleResult><ResponseMetadata><RequestId>rid-1</RequestId></ResponseMetadata></GetRoleResponse>"
        );
        let none = document(IAM_NS, "DeleteRole", "r", None);
        assert_eq!(
            none,
            "<DeleteRoleResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata></DeleteRoleResponse>"
        );
        let empty = document(STS_NS, "UpdateRole", "r", Some(Xml::new()));
        assert!(empty.contains("<UpdateRoleResult/>"), "{empty}");
    }

    #[test]
    fn lists_are_members_and_pages_end_with_a_marker() {
        let mut x = Xml::new();
        x.list("PolicyNames", ["a", "b"], |x, n| {
            x.text(n);
        })
        .page_end(Some("m"));
        assert_eq!(
            x.into_string(),
            "<PolicyNames><member>a</member><member>b</member></PolicyNames><IsTruncated>true</IsTruncated><Marker>m</Marker>"
        );
        let mut y = Xml::new();
        y.page_end(None);
        assert_eq!(y.into_string(), "<IsTruncated>false</IsTruncated>");
    }
}
