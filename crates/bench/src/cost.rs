//! The AWS bill of one workspace rotation, from what the rotation bench counted: Step
//! Functions state transitions, Lambda requests and GB-seconds, KMS requests and Secrets
//! Manager API calls; and a month of one workspace next to what Secrets Manager charges for
//! storing its secrets, which is the cost users compare against.
//!
//! Prices are us-east-1 list prices without free tiers. From /work/shared/reference/
//! aws-services.md: state transitions ($0.025 per 1,000), Lambda requests ($0.20 per
//! million) and duration (x86_64 $0.0000166667, arm64 $0.0000133334 per GB-s, a secondary
//! source there). Not in the reference (AWS's public pricing pages): Secrets Manager $0.40
//! per secret-month and $0.05 per 10,000 API calls, KMS $0.03 per 10,000 requests, and
//! Lambda's 1 ms billing granularity.

use serde::Serialize;

/// List prices in US dollars.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Prices {
    /// One Standard-workflow state transition.
    pub state_transition: f64,
    /// One Lambda request.
    pub lambda_request: f64,
    /// One GB-second of x86_64 Lambda duration.
    pub gb_second_x86_64: f64,
    /// One GB-second of arm64 Lambda duration.
    pub gb_second_arm64: f64,
    /// One Secrets Manager API call.
    pub secrets_manager_call: f64,
    /// One KMS request.
    pub kms_request: f64,
    /// One secret stored for a month.
    pub secret_month: f64,
}

/// us-east-1 list prices (see the module documentation for where each comes from).
pub const US_EAST_1: Prices = Prices {
    state_transition: 0.025 / 1_000.0,
    lambda_request: 0.20 / 1_000_000.0,
    gb_second_x86_64: 0.000_016_666_7,
    gb_second_arm64: 0.000_013_333_4,
    secrets_manager_call: 0.05 / 10_000.0,
    kms_request: 0.03 / 10_000.0,
    secret_month: 0.40,
};

/// Days in an average month.
pub const DAYS_PER_MONTH: f64 = 365.25 / 12.0;

/// What one execution used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Step Functions state transitions (states entered, plus retry attempts).
    pub state_transitions: u64,
    /// Lambda invocations.
    pub lambda_invocations: u64,
    /// Their durations, each rounded up to the next millisecond, summed.
    pub lambda_billed_ms: u64,
    /// Secrets Manager API calls.
    pub secrets_manager_calls: u64,
    /// KMS requests (the functions' own and those Secrets Manager makes on their behalf).
    pub kms_requests: u64,
}

/// A Lambda's billed milliseconds for one invocation of `millis` (rounded up, at least 1).
pub fn billed_ms(millis: f64) -> u64 {
    if millis.is_nan() || millis <= 1.0 {
        return 1;
    }
    millis.ceil() as u64
}

/// GB-seconds of `billed_ms` at `memory_mb` (Lambda's MB are MiB: 128 MB is 0.125 GB).
pub fn gb_seconds(billed_ms: u64, memory_mb: u32) -> f64 {
    billed_ms as f64 / 1_000.0 * f64::from(memory_mb) / 1_024.0
}

/// The CPU architecture a function is priced for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Arch {
    /// x86_64, what scripts/package.sh builds by default.
    X86_64,
    /// arm64 (Graviton).
    Arm64,
}

/// What `usage` costs, by service, in dollars.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Cost {
    /// Step Functions.
    pub step_functions: f64,
    /// Lambda requests.
    pub lambda_requests: f64,
    /// Lambda duration.
    pub lambda_duration: f64,
    /// Secrets Manager API calls.
    pub secrets_manager: f64,
    /// KMS requests.
    pub kms: f64,
    /// All of the above.
    pub total: f64,
}

/// Prices `usage` for functions of `memory_mb` on `arch`.
pub fn cost(usage: &Usage, memory_mb: u32, arch: Arch, prices: &Prices) -> Cost {
    let gb_second = match arch {
        Arch::X86_64 => prices.gb_second_x86_64,
        Arch::Arm64 => prices.gb_second_arm64,
    };
    let step_functions = usage.state_transitions as f64 * prices.state_transition;
    let lambda_requests = usage.lambda_invocations as f64 * prices.lambda_request;
    let lambda_duration = gb_seconds(usage.lambda_billed_ms, memory_mb) * gb_second;
    let secrets_manager = usage.secrets_manager_calls as f64 * prices.secrets_manager_call;
    let kms = usage.kms_requests as f64 * prices.kms_request;
    Cost {
        step_functions,
        lambda_requests,
        lambda_duration,
        secrets_manager,
        kms,
        total: step_functions + lambda_requests + lambda_duration + secrets_manager + kms,
    }
}

/// A month of one workspace: `rotations` executions that rotate, the other daily ticks
/// executions that find nothing due, against storing `secrets` secrets.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthlyCost {
    /// Rotating executions per month.
    pub rotations: f64,
    /// Executions that found nothing due.
    pub idle_ticks: f64,
    /// What keyshift's executions cost.
    pub keyshift: f64,
    /// What Secrets Manager charges for storing the secrets.
    pub secrets_storage: f64,
    /// keyshift's cost over the storage cost.
    pub keyshift_over_storage: f64,
}

/// The month of a workspace whose tokens are rotated every `rotation_interval_days` by a
/// schedule that ticks every `tick_days`.
pub fn monthly(
    rotation: &Cost,
    idle: &Cost,
    rotation_interval_days: f64,
    tick_days: f64,
    secrets: usize,
    prices: &Prices,
) -> MonthlyCost {
    let rotations = DAYS_PER_MONTH / rotation_interval_days.max(f64::EPSILON);
    let ticks = DAYS_PER_MONTH / tick_days.max(f64::EPSILON);
    let idle_ticks = (ticks - rotations).max(0.0);
    let keyshift = rotations * rotation.total + idle_ticks * idle.total;
    let secrets_storage = secrets as f64 * prices.secret_month;
    MonthlyCost {
        rotations,
        idle_ticks,
        keyshift,
        secrets_storage,
        keyshift_over_storage: if secrets_storage > 0.0 {
            keyshift / secrets_storage
        } else {
            0.0
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn lambda_time_is_billed_per_started_millisecond_at_the_configured_memory() {
        assert_eq!(billed_ms(0.2), 1);
        assert_eq!(billed_ms(12.01), 13);
        assert_eq!(billed_ms(f64::NAN), 1);
        assert!(close(gb_seconds(1_000, 128), 0.125));
        assert!(close(gb_seconds(8_000, 1_024), 8.0));
    }

    #[test]
    fn each_service_is_priced_by_its_own_unit() {
        let usage = Usage {
            state_transitions: 1_000,
            lambda_invocations: 1_000_000,
            lambda_billed_ms: 8_000,
            secrets_manager_calls: 10_000,
            kms_requests: 20_000,
        };
        let x86 = cost(&usage, 128, Arch::X86_64, &US_EAST_1);
        assert!(close(x86.step_functions, 0.025));
        assert!(close(x86.lambda_requests, 0.20));
        assert!(close(x86.lambda_duration, 0.000_016_666_7));
        assert!(close(x86.secrets_manager, 0.05));
        assert!(close(x86.kms, 0.06));
        assert!(close(
            x86.total,
            0.025 + 0.20 + 0.000_016_666_7 + 0.05 + 0.06
        ));
        let arm = cost(&usage, 128, Arch::Arm64, &US_EAST_1);
        assert!(close(arm.lambda_duration, 0.000_013_333_4));
    }

    #[test]
    fn a_month_is_its_rotations_plus_the_idle_ticks_against_the_stored_secrets() {
        let rotation = Cost {
            total: 0.002,
            ..Cost::default()
        };
        let idle = Cost {
            total: 0.0001,
            ..Cost::default()
        };
        let month = monthly(&rotation, &idle, DAYS_PER_MONTH / 2.0, 1.0, 3, &US_EAST_1);
        assert!(close(month.rotations, 2.0));
        assert!(close(month.idle_ticks, DAYS_PER_MONTH - 2.0));
        assert!(close(
            month.keyshift,
            2.0 * 0.002 + (DAYS_PER_MONTH - 2.0) * 0.0001
        ));
        assert!(close(month.secrets_storage, 1.20));
        assert!(close(month.keyshift_over_storage, month.keyshift / 1.20));
    }
}
