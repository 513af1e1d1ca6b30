//! SCRAM-SHA-256 password verifiers computed on the client (RFC 5802, RFC 7677), in the form
//! PostgreSQL stores in `pg_authid.rolpassword`. A verifier given to `CREATE ROLE ... PASSWORD`
//! or `ALTER ROLE ... PASSWORD` is stored as is, so the password itself never reaches the server.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{Error, Result, SecretString};

/// Iterations PostgreSQL uses by default (`scram_iterations`).
pub const SCRAM_ITERATIONS: u32 = 4096;

/// Salt length PostgreSQL uses, in bytes.
const SALT_LEN: usize = 16;

/// The verifier for `password` with a fresh random 16-byte salt and 4096 iterations:
/// `SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>` (base64).
///
/// Passwords must be ASCII: PostgreSQL's clients apply SASLprep (NFKC normalisation) to other
/// passwords before hashing, which this function does not reproduce, so such a verifier could
/// refuse the very password it was made from. The error names the field, never the value.
pub fn scram_verifier(password: &SecretString) -> Result<SecretString> {
    let mut salt = [0u8; SALT_LEN];
    rand::thread_rng().fill_bytes(&mut salt);
    scram_verifier_with(password, &salt, SCRAM_ITERATIONS)
}

/// [`scram_verifier`] with a given salt and iteration count (for tests and reproducibility).
pub fn scram_verifier_with(
    password: &SecretString,
    salt: &[u8],
    iterations: u32,
) -> Result<SecretString> {
    let pw = password.expose_secret();
    if pw.is_empty() {
        return Err(Error::input("password", "[REDACTED]", "must not be empty"));
    }
    if !pw.is_ascii() {
        return Err(Error::input(
            "password",
            "[REDACTED]",
            "contains non-ASCII characters; SASLprep normalisation is not implemented, use an ASCII password",
        ));
    }
    if iterations == 0 || salt.is_empty() {
        return Err(Error::input(
            "scram",
            format!("iterations={iterations}, salt={} bytes", salt.len()),
            "iterations and salt must not be zero/empty",
        ));
    }
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(pw.as_bytes(), salt, iterations, &mut salted);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted, b"Server Key");
    Ok(SecretString::new(format!(
        "SCRAM-SHA-256${iterations}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    )))
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail here.
    let mut mac = match <Hmac<Sha256> as Mac>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    mac.update(message);
    mac.finalize().into_bytes().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verifier_has_postgres_shape_and_random_salt() {
        let pw = SecretString::new("correct horse");
        let a = scram_verifier(&pw).unwrap();
        let b = scram_verifier(&pw).unwrap();
        assert_ne!(a, b, "salt must be random");
        let v = a.expose_secret();
        let rest = v.strip_prefix("SCRAM-SHA-256$4096:").unwrap();
        let (salt, keys) = rest.split_once('$').unwrap();
        assert_eq!(STANDARD.decode(salt).unwrap().len(), 16);
        let (stored, server) = keys.split_once(':').unwrap();
        assert_eq!(STANDARD.decode(stored).unwrap().len(), 32);
        assert_eq!(STANDARD.decode(server).unwrap().len(), 32);
        assert!(!v.contains("correct horse"));
    }

    /// RFC 7677 section 3's exchange: the verifier's keys must reproduce its ServerSignature and
    /// accept its ClientProof.
    #[test]
    fn rfc7677_example() {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let v = scram_verifier_with(&SecretString::new("pencil"), &salt, 4096).unwrap();
        let keys = v.expose_secret().rsplit_once('$').unwrap().1;
        let (stored, server) = keys.split_once(':').unwrap();
        let (stored, server) = (
            STANDARD.decode(stored).unwrap(),
            STANDARD.decode(server).unwrap(),
        );
        let nonce = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
        let auth_message = format!(
            "n=user,r=rOprNGfwEbeRWgbNEkqO,r={nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r={nonce}"
        );
        assert_eq!(
            STANDARD.encode(hmac(&server, auth_message.as_bytes())),
            "6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        );
        let proof = STANDARD
            .decode("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")
            .unwrap();
        let signature = hmac(&stored, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(a, b)| a ^ b).collect();
        assert_eq!(Sha256::digest(client_key).as_slice(), stored.as_slice());
    }

    #[test]
    fn deterministic_with_fixed_salt() {
        let pw = SecretString::new("pencil");
        let a = scram_verifier_with(&pw, b"0123456789abcdef", 4096).unwrap();
        let b = scram_verifier_with(&pw, b"0123456789abcdef", 4096).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn refuses_empty_and_non_ascii_without_echoing() {
        for p in ["", "pässwort"] {
            let err = scram_verifier(&SecretString::new(p)).unwrap_err();
            match err {
                Error::InvalidInput { field, value, .. } => {
                    assert_eq!(field, "password");
                    assert_eq!(value, "[REDACTED]");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
