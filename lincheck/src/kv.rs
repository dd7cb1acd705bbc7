//! The key/value service's sequential specification, and shorthands for
//! recording its clerks' calls.

use std::collections::BTreeMap;

use super::history::{Operation, Recorder};
use super::key_value::KeyValue;
use super::model::{Effect, Model, Partition};

/// A clerk call on the KV service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KvInput {
    /// Read a key; the output is the value read ("" for a missing key).
    Get {
        /// The key read.
        key: String,
    },
    /// Replace a key's value.
    Put {
        /// The key written.
        key: String,
        /// Its new value.
        value: String,
    },
    /// Append to a key's value.
    Append {
        /// The key written.
        key: String,
        /// The text appended.
        value: String,
    },
}

impl KvInput {
    /// The key the call reads or writes.
    pub fn key(&self) -> &str {
        match self {
            KvInput::Get { key } | KvInput::Put { key, .. } | KvInput::Append { key, .. } => key,
        }
    }
}

/// One recorded KV call. Its output is the value a Get returned; Put and
/// Append return nothing and record "", which the model ignores.
pub type KvOperation = Operation<KvInput, String>;

/// A log of KV calls; see the `get`, `put` and `append` shorthands.
pub type KvRecorder = Recorder<KvInput, String>;

impl KvRecorder {
    /// Runs `get` (a clerk's Get of `key`) as client `client_id`, records
    /// it, and returns the value it read.
    pub fn get(&self, client_id: usize, key: &str, get: impl FnOnce() -> String) -> String {
        let input = KvInput::Get {
            key: key.to_string(),
        };
        self.record_call(client_id, input, get)
    }

    /// Runs `put` (a clerk's Put of `value` to `key`) as client
    /// `client_id` and records it.
    pub fn put(&self, client_id: usize, key: &str, value: &str, put: impl FnOnce()) {
        let input = KvInput::Put {
            key: key.to_string(),
            value: value.to_string(),
        };
        self.record_call(client_id, input, || {
            put();
            String::new()
        });
    }

    /// Runs `append` (a clerk's Append of `value` to `key`) as client
    /// `client_id` and records it.
    pub fn append(&self, client_id: usize, key: &str, value: &str, append: impl FnOnce()) {
        let input = KvInput::Append {
            key: key.to_string(),
            value: value.to_string(),
        };
        self.record_call(client_id, input, || {
            append();
            String::new()
        });
    }
}

/// How long a rest of a Get's output look-ahead tries to spell with
/// appended values; longer ones are assumed spellable, to bound the cost.
const SPELLING_CHECKED_BYTES: usize = 256;

/// Whether `text` is a concatenation of `words`, each used any number of
/// times (a relaxation of "at most once" that keeps this cheap). `words`
/// must be sorted, and none of them empty.
fn can_be_spelled(text: &[u8], words: &[&[u8]]) -> bool {
    let mut reachable = vec![false; text.len() + 1];
    reachable[0] = true;
    for start in 0..text.len() {
        if reachable[start] {
            // Only the words starting with this byte, a run of the sorted words.
            let first = words.partition_point(|word| word[0] < text[start]);
            for word in words[first..]
                .iter()
                .take_while(|word| word[0] == text[start])
            {
                if text[start..].starts_with(word) {
                    reachable[start + word.len()] = true;
                }
            }
        }
    }
    reachable[text.len()]
}

/// The KV service as one sequential map: each key starts as "", a Get must
/// read the key's current value, a Put replaces it, an Append extends it.
/// Keys never affect one another, so histories are checked key by key.
#[derive(Clone, Copy, Debug, Default)]
pub struct KvModel;

impl Model for KvModel {
    type Input = KvInput;
    type Output = String;
    /// The value of the partition's one key.
    type State = KeyValue;

    fn init(&self) -> KeyValue {
        KeyValue::default()
    }

    fn step(&self, value: &KeyValue, input: &KvInput, output: &String) -> Option<KeyValue> {
        match input {
            KvInput::Get { .. } => value.equals_str(output).then(|| value.clone()),
            KvInput::Put { value: new, .. } => Some(KeyValue::new(new)),
            KvInput::Append { value: suffix, .. } => Some(value.append(suffix)),
        }
    }

    /// Gets read; Appends only extend a value; Puts replace it.
    fn effect(&self, input: &KvInput) -> Effect {
        match input {
            KvInput::Get { .. } => Effect::Read,
            KvInput::Append { .. } => Effect::Update,
            KvInput::Put { .. } => Effect::Overwrite,
        }
    }

    /// Without a Put, a value only grows at its end, so a Get can still
    /// read `output` only if `value` is a prefix of it, and the rest of
    /// `output` is spelled by values of the appends that may come first.
    fn could_become_legal(
        &self,
        value: &KeyValue,
        _input: &KvInput,
        output: &String,
        updates: Option<&[&KvOperation]>,
    ) -> bool {
        if !value.is_prefix_of(output) {
            return false;
        }
        let rest = &output.as_bytes()[value.len()..];
        let Some(updates) =
            updates.filter(|_| !rest.is_empty() && rest.len() <= SPELLING_CHECKED_BYTES)
        else {
            return true;
        };
        let mut suffixes: Vec<&[u8]> = updates
            .iter()
            .filter_map(|update| match &update.input {
                KvInput::Append { value, .. } if !value.is_empty() => Some(value.as_bytes()),
                _ => None,
            })
            .collect();
        suffixes.sort_unstable();
        suffixes.dedup();
        can_be_spelled(rest, &suffixes)
    }

    fn partition(&self, history: &[KvOperation]) -> Vec<Partition> {
        let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (index, operation) in history.iter().enumerate() {
            by_key.entry(operation.input.key()).or_default().push(index);
        }
        by_key
            .into_iter()
            .map(|(key, operations)| Partition {
                name: format!("key {key:?}"),
                operations,
            })
            .collect()
    }

    fn describe_operation(&self, input: &KvInput, output: &String) -> String {
        match input {
            KvInput::Get { key } => format!("get({key:?}) -> {output:?}"),
            KvInput::Put { key, value } => format!("put({key:?}, {value:?})"),
            KvInput::Append { key, value } => format!("append({key:?}, {value:?})"),
        }
    }

    fn describe_state(&self, value: &KeyValue) -> String {
        format!("{value:?}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn get(key: &str) -> KvInput {
        KvInput::Get {
            key: key.to_string(),
        }
    }

    fn append(key: &str, value: &str) -> KvInput {
        KvInput::Append {
            key: key.to_string(),
            value: value.to_string(),
        }
    }

    #[test]
    fn steps_follow_get_put_append_semantics() {
        let model = KvModel;
        let empty = model.init();
        assert!(model.step(&empty, &get("k"), &String::new()).is_some());
        assert!(model.step(&empty, &get("k"), &"x".to_string()).is_none());
        let put = KvInput::Put {
            key: "k".to_string(),
            value: "ab".to_string(),
        };
        let after_put = model.step(&empty, &put, &String::new()).unwrap();
        let after_append = model
            .step(&after_put, &append("k", "c"), &String::new())
            .unwrap();
        assert_eq!(after_append.to_string(), "abc");
        assert!(model
            .step(&after_append, &get("k"), &"abc".to_string())
            .is_some());
        assert!(model
            .step(&after_append, &get("k"), &"ab".to_string())
            .is_none());
    }

    #[test]
    fn a_get_can_become_legal_only_if_the_value_can_grow_into_its_output() {
        let model = KvModel;
        let value = KeyValue::new("ab");
        let could_read = |output: &str, updates: Option<&[&KvOperation]>| {
            model.could_become_legal(&value, &get("k"), &output.to_string(), updates)
        };
        assert!(could_read("ab", None) && could_read("abc", None));
        assert!(!could_read("a", None) && !could_read("ba", None) && !could_read("xabc", None));
        let appended = |value: &str| KvOperation {
            client_id: 0,
            input: append("k", value),
            output: String::new(),
            called_at: Duration::ZERO,
            returned_at: Duration::ZERO,
        };
        let (c, de) = (appended("c"), appended("de"));
        let available = [&c, &de];
        assert!(could_read("ab", Some(&[])));
        assert!(could_read("abdec", Some(&available)));
        assert!(!could_read("abdx", Some(&available)));
        assert!(!could_read("abd", Some(&available)));
        assert_eq!(model.effect(&get("k")), Effect::Read);
        assert_eq!(model.effect(&append("k", "x")), Effect::Update);
        let put = KvInput::Put {
            key: "k".to_string(),
            value: "v".to_string(),
        };
        assert_eq!(model.effect(&put), Effect::Overwrite);
    }

    #[test]
    fn partitions_group_operations_by_key() {
        let recorder = KvRecorder::new();
        recorder.append(0, "b", "1", || ());
        recorder.get(1, "a", String::new);
        recorder.put(0, "b", "2", || ());
        let partitions = KvModel.partition(&recorder.history());
        let summary: Vec<_> = partitions
            .iter()
            .map(|partition| (partition.name.as_str(), partition.operations.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![("key \"a\"", vec![1]), ("key \"b\"", vec![0, 2])]
        );
    }

    #[test]
    fn descriptions_quote_keys_and_values() {
        let model = KvModel;
        assert_eq!(
            model.describe_operation(&get("k"), &"v\"1".to_string()),
            r#"get("k") -> "v\"1""#
        );
        assert_eq!(
            model.describe_operation(&append("k", "x"), &String::new()),
            r#"append("k", "x")"#
        );
        assert_eq!(model.describe_state(&KeyValue::new("ab")), r#""ab""#);
    }
}
