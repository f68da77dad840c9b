//! The ASL definition parser and validator: any text is a state machine or a named
//! `DefinitionError` with a message; a panic is a finding.

#![no_main]

use libfuzzer_sys::fuzz_target;
use local_sfn::StateMachine;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(error) = StateMachine::from_json_str(text) {
        assert!(!error.to_string().is_empty());
    }
});
