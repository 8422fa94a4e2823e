//! Parses arbitrary bytes as one IRC line. Whatever parses must survive a
//! write and a second parse unchanged; `split_text` must keep its promises
//! on the same bytes read as text.

#![no_main]

use confab_irc::{MAX_PARAMS, Message, ParseError, split_text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = Message::parse(data) {
        assert!(message.params.len() <= MAX_PARAMS);
        assert!(!message.command.is_empty());

        let written = message.to_bytes();
        assert!(written.ends_with(b"\r\n"));
        assert!(!written[..written.len() - 2].contains(&b'\n'));
        let again = Message::parse(&written).expect("a written message parses");
        assert_eq!(again, message, "round trip");
        assert_eq!(
            message.to_string().as_bytes(),
            &written[..written.len() - 2]
        );

        // Forcing the trailing `:` changes the bytes, not the message,
        // unless the extra byte pushes the line over the limit.
        let mut forced = Vec::new();
        message.write_to_trailing(&mut forced, true);
        match Message::parse(&forced) {
            Ok(again) => assert_eq!(again, message, "forced trailing"),
            Err(e) => assert_eq!(e, ParseError::LineTooLong),
        }
    }

    let text = String::from_utf8_lossy(data);
    for max in [4, 5, 7, 64, 400] {
        let pieces = split_text(&text, max);
        assert!(pieces.iter().all(|p| !p.is_empty() && p.len() <= max));
        assert_eq!(pieces.concat(), text);
    }
});
