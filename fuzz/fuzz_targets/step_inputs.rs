//! Every step's input type read from arbitrary bytes: a payload that is not JSON, or JSON
//! that is not the input, must become `Input.Invalid`; what parses must validate or be
//! refused as `Input.Invalid`. Any panic is a finding.

#![no_main]

use keyshift_core::KeyshiftError;
use keyshift_core::fleet::FleetStartEvent;
use keyshift_core::naming::validate_execution_name;
use keyshift_core::steps::RollbackInput;
use keyshift_core::steps::io::{
    CreateSaInput, DiscoverInput, DlqReplayInput, ExecutionInput, MintTokenInput, PromoteInput,
    RevokeOldInput, StageInput, StoreSecretInput, VerifyInput,
};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn read<T: DeserializeOwned>(payload: &Value) -> Option<T> {
    match serde_json::from_value::<T>(payload.clone()) {
        Ok(input) => Some(input),
        Err(error) => {
            let error = KeyshiftError::from(error);
            assert_eq!(error.asl_name(), "Input.Invalid");
            None
        }
    }
}

fn assert_named(result: keyshift_core::Result<()>) {
    if let Err(error) = result {
        assert_eq!(error.asl_name(), "Input.Invalid", "{error}");
    }
}

fuzz_target!(|data: &[u8]| {
    let payload: Value = match serde_json::from_slice(data) {
        Ok(payload) => payload,
        Err(error) => {
            assert_eq!(KeyshiftError::from(error).asl_name(), "Input.Invalid");
            return;
        }
    };
    if let Some(input) = read::<DiscoverInput>(&payload) {
        assert_named(validate_execution_name(&input.execution_name));
        assert_named(input.workspace.validate());
        assert_named(input.policy.validate());
    }
    if let Some(input) = read::<ExecutionInput>(&payload) {
        assert_named(input.workspace.validate());
        assert_named(input.policy.validate());
    }
    read::<CreateSaInput>(&payload);
    read::<MintTokenInput>(&payload);
    read::<StageInput>(&payload);
    read::<VerifyInput>(&payload);
    read::<PromoteInput>(&payload);
    read::<StoreSecretInput>(&payload);
    read::<RevokeOldInput>(&payload);
    read::<DlqReplayInput>(&payload);
    read::<RollbackInput>(&payload);
    read::<FleetStartEvent>(&payload);
});
