//! What Tab completes, from the model: the browser client's rules
//! (web/client/js/ui/composer.js). `/commands` at the start of the input,
//! `#rooms` we have a buffer for, and nicks: the open room's members and
//! the people we talk to privately (never ourselves). A nick that starts
//! the input gets `: ` after it (IRC's way of addressing someone), `@nick`
//! keeps its `@`. Each candidate is the replacement text with its space.

use crate::commands;
use crate::model::{BufferKind, Model};
use crate::proto::key_of;

/// The candidates for `word`, which starts the input when `at_start`.
pub fn candidates(model: &Model, word: &str, at_start: bool) -> Vec<String> {
    let lower = word.to_lowercase();
    if at_start && let Some(cmd) = lower.strip_prefix('/') {
        return commands::names()
            .into_iter()
            .filter(|n| n.starts_with(cmd))
            .map(|n| format!("/{n} "))
            .collect();
    }
    if lower.starts_with('#') {
        let mut rooms: Vec<&str> = model
            .buffers()
            .filter(|b| b.kind == BufferKind::Room && b.key.starts_with(&key_of(word)))
            .map(|b| b.name.as_str())
            .collect();
        rooms.sort_by_key(|r| key_of(r));
        return rooms.into_iter().map(|r| format!("{r} ")).collect();
    }
    let (at, bare) = match word.strip_prefix('@') {
        Some(rest) => ("@", rest),
        None => ("", word),
    };
    let bare = key_of(bare);
    let me = key_of(&model.me);
    let suffix = if at_start && at.is_empty() { ": " } else { " " };
    model
        .nicks()
        .into_iter()
        .filter(|n| {
            let k = key_of(n);
            k != me && k.starts_with(&bare)
        })
        .map(|n| format!("{at}{n}{suffix}"))
        .collect()
}
