//! Password stretching with Argon2id.
//!
//! The parameters travel in the vault header so a vault keeps opening after the defaults
//! change. That makes them attacker-controlled input: a header edited down to trivial cost
//! would make a stolen vault cheap to brute-force on the next re-seal, and one edited up to
//! terabytes would take the machine down. So every derivation checks them first against a
//! floor and a ceiling.

use argon2::{Algorithm, Argon2, Block, Params, Version};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::CryptoError;

/// Argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory (Argon2's `t`).
    pub iterations: u32,
    /// Lanes (Argon2's `p`).
    pub parallelism: u32,
}

/// 1 GiB in KiB: beyond this a derivation is an accident or an attack, not a setting (a
/// header edited to 4 GiB once held an unlock for 250 s and 4.1 GiB before failing).
pub const MAX_MEMORY_KIB: u32 = 1024 * 1024;
/// More passes than this buy nothing that more memory would not buy better.
pub const MAX_ITERATIONS: u32 = 16;
/// More lanes than desktops have cores only makes the derivation slower for the user.
pub const MAX_PARALLELISM: u32 = 8;

impl KdfParams {
    /// RFC 9106's second recommended option (64 MiB, t=3, p=4): strong, well under a second.
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 65536,
        iterations: 3,
        parallelism: 4,
    };

    /// OWASP's minimum for Argon2id (19 MiB, t=2, p=1). Nothing weaker is accepted.
    pub const FLOOR: KdfParams = KdfParams {
        memory_kib: 19456,
        iterations: 2,
        parallelism: 1,
    };

    /// Refuse parameters below [`KdfParams::FLOOR`] or above a sane ceiling, naming which.
    pub fn check(&self) -> Result<(), CryptoError> {
        let floor = Self::FLOOR;
        let problem = if self.memory_kib < floor.memory_kib {
            format!(
                "Argon2 memory of {} KiB is below the minimum of {} KiB (19 MiB)",
                self.memory_kib, floor.memory_kib
            )
        } else if self.memory_kib > MAX_MEMORY_KIB {
            format!(
                "Argon2 memory of {} KiB is above the maximum of {MAX_MEMORY_KIB} KiB (1 GiB)",
                self.memory_kib
            )
        } else if self.iterations < floor.iterations {
            format!(
                "{} Argon2 iterations is below the minimum of {}",
                self.iterations, floor.iterations
            )
        } else if self.iterations > MAX_ITERATIONS {
            format!(
                "{} Argon2 iterations is above the maximum of {MAX_ITERATIONS}",
                self.iterations
            )
        } else if self.parallelism == 0 {
            "Argon2 parallelism must be at least 1".to_string()
        } else if self.parallelism > MAX_PARALLELISM {
            format!(
                "Argon2 parallelism of {} is above the maximum of {MAX_PARALLELISM}",
                self.parallelism
            )
        } else {
            return Ok(());
        };
        Err(CryptoError::ParamsOutOfRange(problem))
    }

    /// Whether costs read from disk stay within what `configured` allows, with a margin
    /// (twice the memory and passes of the larger of `configured` and the default): a vault
    /// edited to cost far more than the user ever chose is refused before any derivation.
    pub fn within_reach_of(&self, configured: &KdfParams) -> bool {
        let memory = configured.memory_kib.max(Self::DEFAULT.memory_kib);
        let iterations = configured.iterations.max(Self::DEFAULT.iterations);
        let parallelism = configured.parallelism.max(Self::DEFAULT.parallelism);
        self.check().is_ok()
            && u64::from(self.memory_kib) <= 2 * u64::from(memory)
            && self.iterations <= 2 * iterations
            && self.parallelism <= parallelism.max(MAX_PARALLELISM)
    }
}

/// Stretch `password` into a 32-byte key with Argon2id v1.3.
///
/// A key file, when given, is Argon2's `secret` input, so the result depends on both and a
/// stolen vault without the key file cannot be attacked through the password alone.
/// Slow by design (tens to hundreds of milliseconds): call it off async threads.
pub fn derive(
    password: &[u8],
    salt: &[u8; 16],
    key_file: Option<&[u8; 32]>,
    params: &KdfParams,
) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
    params.check()?;
    let argon_params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .map_err(|error| CryptoError::ParamsOutOfRange(error.to_string()))?;
    let memory_blocks = argon_params.block_count();
    let argon = match key_file {
        Some(secret) => {
            Argon2::new_with_secret(secret, Algorithm::Argon2id, Version::V0x13, argon_params)
                .map_err(|error| CryptoError::ParamsOutOfRange(error.to_string()))?
        }
        None => Argon2::new(Algorithm::Argon2id, Version::V0x13, argon_params),
    };
    // Our own working memory, because `hash_password_into` frees its blocks unwiped and
    // they hold everything needed to recompute the key.
    let mut memory = Zeroizing::new(vec![Block::default(); memory_blocks]);
    let mut key = Zeroizing::new([0u8; 32]);
    argon
        .hash_password_into_with_memory(password, salt, key.as_mut_slice(), memory.as_mut_slice())
        // Argon2's messages name the input that was refused, never its value.
        .map_err(|error| CryptoError::ParamsOutOfRange(error.to_string()))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SALT: [u8; 16] = *b"0123456789abcdef";
    const KEY_FILE: [u8; 32] = [7u8; 32];

    fn refused(params: KdfParams) -> String {
        match params.check() {
            Err(CryptoError::ParamsOutOfRange(message)) => message,
            other => panic!("{params:?} was not refused: {other:?}"),
        }
    }

    #[test]
    fn defaults_and_floor_pass() {
        assert_eq!(KdfParams::DEFAULT.check(), Ok(()));
        assert_eq!(KdfParams::FLOOR.check(), Ok(()));
        let ceiling = KdfParams {
            memory_kib: MAX_MEMORY_KIB,
            iterations: MAX_ITERATIONS,
            parallelism: MAX_PARALLELISM,
        };
        assert_eq!(ceiling.check(), Ok(()));
    }

    #[test]
    fn below_the_floor_is_refused_naming_the_parameter() {
        let floor = KdfParams::FLOOR;
        let memory = KdfParams {
            memory_kib: floor.memory_kib - 1,
            ..floor
        };
        assert!(refused(memory).contains("memory"));
        let iterations = KdfParams {
            iterations: 1,
            ..floor
        };
        assert!(refused(iterations).contains("iterations"));
        let lanes = KdfParams {
            parallelism: 0,
            ..floor
        };
        assert!(refused(lanes).contains("parallelism"));
    }

    #[test]
    fn above_the_ceiling_is_refused_naming_the_parameter() {
        let floor = KdfParams::FLOOR;
        let memory = KdfParams {
            memory_kib: MAX_MEMORY_KIB + 1,
            ..floor
        };
        assert!(refused(memory).contains("memory"));
        let iterations = KdfParams {
            iterations: MAX_ITERATIONS + 1,
            ..floor
        };
        assert!(refused(iterations).contains("iterations"));
        let lanes = KdfParams {
            parallelism: MAX_PARALLELISM + 1,
            ..floor
        };
        assert!(refused(lanes).contains("parallelism"));
    }

    #[test]
    fn derive_refuses_before_deriving() {
        // Were these derived, the first would try to allocate about 4 TiB and the second
        // would run for minutes; an immediate refusal shows the check comes first.
        let huge = KdfParams {
            memory_kib: u32::MAX,
            ..KdfParams::FLOOR
        };
        let slow = KdfParams {
            iterations: u32::MAX,
            ..KdfParams::FLOOR
        };
        let weak = KdfParams {
            iterations: 1,
            ..KdfParams::FLOOR
        };
        for params in [huge, slow, weak] {
            assert!(matches!(
                derive(b"password", &SALT, None, &params),
                Err(CryptoError::ParamsOutOfRange(_))
            ));
        }
    }

    #[test]
    fn derive_is_deterministic_and_depends_on_the_key_file() {
        let params = KdfParams::FLOOR;
        let first = derive(b"password", &SALT, None, &params).expect("derive");
        let again = derive(b"password", &SALT, None, &params).expect("derive");
        assert_eq!(*first, *again);
        let with_file = derive(b"password", &SALT, Some(&KEY_FILE), &params).expect("derive");
        assert_ne!(*first, *with_file);
        let other_file = derive(b"password", &SALT, Some(&[8u8; 32]), &params).expect("derive");
        assert_ne!(*with_file, *other_file);
    }

    #[test]
    fn derive_is_plain_argon2id_v13() {
        // The argon2 crate's defaults are Argon2id v1.3 with exactly the OWASP floor, so
        // this checks that `derive` maps algorithm, version and parameters faithfully.
        assert_eq!(Params::DEFAULT.m_cost(), KdfParams::FLOOR.memory_kib);
        assert_eq!(Params::DEFAULT.t_cost(), KdfParams::FLOOR.iterations);
        assert_eq!(Params::DEFAULT.p_cost(), KdfParams::FLOOR.parallelism);
        let mut expected = [0u8; 32];
        Argon2::default()
            .hash_password_into(b"password", &SALT, &mut expected)
            .expect("argon2");
        let ours = derive(b"password", &SALT, None, &KdfParams::FLOOR).expect("derive");
        assert_eq!(*ours, expected);
    }

    #[test]
    fn params_serialise_by_name() {
        let json = serde_json::to_string(&KdfParams::DEFAULT).expect("serialise");
        assert_eq!(
            json,
            r#"{"memory_kib":65536,"iterations":3,"parallelism":4}"#
        );
    }
}
