//! [`ClientTags`]: the client-only tags of a message (IRCv3
//! message-tags: keys that start with `+`, such as `+draft/reply` or
//! `+draft/react`), which the server passes on without reading them: with
//! a message (and kept with it in the history), or alone (IRC's
//! `TAGMSG`).

/// Most bytes of client-only tag data one message may carry, as the
/// tags section puts them (`+a=b;+c`): IRCv3 message-tags' limit for what
/// a client sends.
pub const MAX_CLIENT_TAG_BYTES: usize = 4094;

/// Client-only tags, in the order given, each key once (a later one
/// replaces an earlier one). A tag with an empty value is a tag with no
/// value. Empty for most messages.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ClientTags(Vec<(String, String)>);

/// Why tags were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TagsError {
    #[error("{0:?} is not a client-only tag (its key must start with +)")]
    NotClientOnly(String),
    #[error("{0:?} is not a valid tag name")]
    BadKey(String),
    #[error("the value of tag {0:?} holds a NUL")]
    Nul(String),
    #[error("the tags take {len} bytes; at most {MAX_CLIENT_TAG_BYTES} are allowed")]
    TooLong { len: usize },
}

impl ClientTags {
    /// Checks `pairs` (key, value; an empty value for none): every key a
    /// client-only tag name, the whole within [`MAX_CLIENT_TAG_BYTES`].
    pub fn new<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> Result<ClientTags, TagsError>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let mut tags: Vec<(String, String)> = Vec::new();
        for (key, value) in pairs {
            let (key, value) = (key.into(), value.into());
            let Some(name) = key.strip_prefix('+') else {
                return Err(TagsError::NotClientOnly(key));
            };
            if !valid_name(name) {
                return Err(TagsError::BadKey(key));
            }
            if value.contains('\0') {
                return Err(TagsError::Nul(key));
            }
            match tags.iter_mut().find(|(k, _)| *k == key) {
                Some(tag) => tag.1 = value,
                None => tags.push((key, value)),
            }
        }
        let tags = ClientTags(tags);
        let len = tags.wire_len();
        if len > MAX_CLIENT_TAG_BYTES {
            return Err(TagsError::TooLong { len });
        }
        Ok(tags)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tags, in order: (key with its `+`, value; empty for none).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value of `key`, if the tag is there (empty for none).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// These tags without `key`.
    pub fn without(&self, key: &str) -> ClientTags {
        ClientTags(self.0.iter().filter(|(k, _)| k != key).cloned().collect())
    }

    /// The tags as the store keeps them: `key=value` pairs joined by NUL
    /// (which neither a key nor a value holds), so nothing needs
    /// escaping.
    pub fn encode(&self) -> String {
        let pairs: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        pairs.join("\0")
    }

    /// Reads what [`ClientTags::encode`] wrote (and checks it again).
    pub fn decode(s: &str) -> Result<ClientTags, TagsError> {
        if s.is_empty() {
            return Ok(ClientTags::default());
        }
        ClientTags::new(
            s.split('\0')
                .map(|tag| tag.split_once('=').unwrap_or((tag, ""))),
        )
    }

    /// How many bytes the tags take in an IRC message's tags section
    /// (`+a=b;+c`, where `;`, space, `\\`, CR and LF in a value take two).
    fn wire_len(&self) -> usize {
        let escaped = |v: &str| {
            v.len()
                + v.chars()
                    .filter(|c| matches!(c, ';' | ' ' | '\\' | '\r' | '\n'))
                    .count()
        };
        let tags: usize = self
            .0
            .iter()
            .map(|(k, v)| k.len() + if v.is_empty() { 0 } else { 1 + escaped(v) })
            .sum();
        tags + self.0.len().saturating_sub(1)
    }
}

/// Whether `key` names a client-only tag (`+name` or `+vendor/name`), as
/// [`ClientTags::new`] requires.
pub fn is_client_tag(key: &str) -> bool {
    key.strip_prefix('+').is_some_and(valid_name)
}

/// A tag name after the `+`: an optional vendor (`example.com/`) and a
/// name of letters, digits and hyphens.
fn valid_name(name: &str) -> bool {
    let (vendor, name) = match name.rsplit_once('/') {
        Some((vendor, name)) => (Some(vendor), name),
        None => (None, name),
    };
    let vendor_ok = vendor.is_none_or(|v| {
        !v.is_empty()
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-.".contains(c))
    });
    vendor_ok && !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_only_tags_are_kept_in_order_each_key_once() {
        let tags = ClientTags::new([
            ("+draft/reply", "42"),
            ("+example.com/x", ""),
            ("+draft/reply", "43"),
        ])
        .unwrap();
        assert_eq!(
            tags.iter().collect::<Vec<_>>(),
            [("+draft/reply", "43"), ("+example.com/x", "")]
        );
        assert_eq!(tags.get("+draft/reply"), Some("43"));
        assert_eq!(tags.without("+draft/reply").encode(), "+example.com/x=");
    }

    #[test]
    fn server_tags_and_bad_names_are_refused() {
        assert_eq!(
            ClientTags::new([("time", "x")]),
            Err(TagsError::NotClientOnly("time".into()))
        );
        for bad in ["+", "+a b", "+/x", "+a/", "+a;b", "+é"] {
            assert!(
                matches!(ClientTags::new([(bad, "")]), Err(TagsError::BadKey(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn encoding_keeps_any_value_and_decodes_back() {
        let tags = ClientTags::new([("+a", "x; y\\z=\r\n"), ("+b", "")]).unwrap();
        assert_eq!(tags.encode(), "+a=x; y\\z=\r\n\0+b=");
        assert_eq!(ClientTags::decode(&tags.encode()), Ok(tags));
        assert_eq!(ClientTags::decode(""), Ok(ClientTags::default()));
        assert_eq!(
            ClientTags::new([("+a", "x\0y")]),
            Err(TagsError::Nul("+a".into()))
        );
    }

    #[test]
    fn more_than_the_limit_is_refused() {
        let value = "v".repeat(MAX_CLIENT_TAG_BYTES);
        assert!(matches!(
            ClientTags::new([("+a", value.as_str())]),
            Err(TagsError::TooLong { .. })
        ));
        let fits = "v".repeat(MAX_CLIENT_TAG_BYTES - 3);
        assert!(ClientTags::new([("+a", fits.as_str())]).is_ok());
        // Counted as IRC writes them: a space takes two bytes.
        let spaces = " ".repeat(MAX_CLIENT_TAG_BYTES / 2);
        assert!(ClientTags::new([("+a", spaces.as_str())]).is_err());
    }
}
