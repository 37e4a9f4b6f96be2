//! The test gateway's signing key: an Arweave wallet (RSA, JWK) that signs format-2 headers.

use std::sync::OnceLock;

use anyhow::{Context, ensure};
use rand::{CryptoRng, RngCore};
use rsa::pss::SigningKey;
use rsa::signature::{RandomizedSigner, SignatureEncoding};
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPrivateKey};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use weavedrive_cache::arweave::b64;

/// Arweave signs with RSA-PSS/SHA-256; 32 bytes is the salt length of arweave-js's browser
/// driver (nodes accept any length).
const SALT_LEN: usize = 32;

/// An RSA wallet. `owner` (the public modulus) goes into every header it signs.
#[derive(Clone)]
pub struct TestWallet {
    key: RsaPrivateKey,
}

/// The JWK fields we need; `dp`, `dq` and `qi` are recomputed from the primes.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    n: String,
    e: String,
    d: String,
    p: String,
    q: String,
}

impl TestWallet {
    /// A fixed 4096-bit wallet shipped with the crate, so ids and owners are stable across
    /// runs without paying for key generation.
    pub fn fixed() -> Self {
        static FIXED: OnceLock<TestWallet> = OnceLock::new();
        FIXED
            .get_or_init(|| {
                Self::from_jwk(include_str!("test-wallet.json")).expect("embedded test wallet")
            })
            .clone()
    }

    /// Loads an Arweave JWK wallet (`{kty, n, e, d, p, q, ...}`, base64url fields).
    pub fn from_jwk(json: &str) -> anyhow::Result<Self> {
        let jwk: Jwk = serde_json::from_str(json).context("parsing JWK")?;
        ensure!(jwk.kty == "RSA", "JWK is not an RSA key");
        let int = |field: &str, text: &str| {
            b64::decode(text)
                .map(|bytes| BigUint::from_bytes_be(&bytes))
                .with_context(|| format!("JWK field {field} is not base64url"))
        };
        let key = RsaPrivateKey::from_components(
            int("n", &jwk.n)?,
            int("e", &jwk.e)?,
            int("d", &jwk.d)?,
            vec![int("p", &jwk.p)?, int("q", &jwk.q)?],
        )
        .context("invalid RSA key in JWK")?;
        Self::from_key(key)
    }

    /// Generates a fresh wallet (slow for 4096 bits: seconds; tests that need a second
    /// signer can use 2048).
    pub fn generate(bits: usize) -> anyhow::Result<Self> {
        Self::from_key(RsaPrivateKey::new(&mut rand::thread_rng(), bits)?)
    }

    fn from_key(key: RsaPrivateKey) -> anyhow::Result<Self> {
        // Arweave's `owner` is the modulus alone; the exponent is implied.
        ensure!(
            key.e() == &BigUint::from(65537u32),
            "public exponent must be 65537"
        );
        Ok(TestWallet { key })
    }

    /// The public modulus, big-endian: a header's `owner`.
    pub fn owner(&self) -> Vec<u8> {
        self.key.n().to_bytes_be()
    }

    /// The wallet address: base64url(sha256(owner)).
    pub fn address(&self) -> String {
        b64::encode(&Sha256::digest(self.owner()))
    }

    /// RSA-PSS (SHA-256, salt 32) signature of `message`; `rng` picks the salt, so a seeded
    /// rng gives reproducible signatures and therefore reproducible tx ids.
    pub fn sign<R: RngCore + CryptoRng>(&self, message: &[u8], rng: &mut R) -> Vec<u8> {
        SigningKey::<Sha256>::new_with_salt_len(self.key.clone(), SALT_LEN)
            .sign_with_rng(rng, message)
            .to_vec()
    }
}

impl std::fmt::Debug for TestWallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TestWallet({})", self.address())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use weavedrive_cache::arweave::rsa_pss;

    #[test]
    fn fixed_wallet_signs_verifiably() {
        let wallet = TestWallet::fixed();
        assert_eq!(wallet.owner().len(), 512);
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let sig = wallet.sign(b"message", &mut rng);
        assert_eq!(sig.len(), 512);
        assert!(rsa_pss::verify(&wallet.owner(), b"message", &sig));
        assert!(!rsa_pss::verify(&wallet.owner(), b"other", &sig));
    }

    #[test]
    fn rejects_bad_jwk() {
        assert!(TestWallet::from_jwk("{}").is_err());
        assert!(
            TestWallet::from_jwk(r#"{"kty":"EC","n":"","e":"","d":"","p":"","q":""}"#).is_err()
        );
    }
}
