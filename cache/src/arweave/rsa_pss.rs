//! RSA-PSS (SHA-256, MGF1-SHA-256) verification with the salt length recovered from the
//! signature, as Arweave nodes do. arweave-js signs with node's maximum salt length and the
//! browser driver with 32 bytes; both are valid, so we cannot fix one length (the `rsa`
//! crate's verifier does). Public exponent is always 65537: Arweave's `owner` is the modulus.

use rsa::BigUint;
use sha2::{Digest, Sha256};

const H_LEN: usize = 32;
const PUBLIC_EXPONENT: u32 = 65537;

/// Arweave's RSA keys are 4096 bits: `owner` is a 512-byte modulus and signatures are 512
/// bytes (transactions of both formats, ANS-104 type-1 items).
pub const ARWEAVE_KEY_BYTES: usize = 512;

/// True when `signature` is a valid RSA-PSS signature of `message` by the 4096-bit key
/// `modulus`. Any other size is refused before any big-number work: a hostile 256 KiB
/// "modulus" would cost minutes per check.
pub fn verify(modulus: &[u8], message: &[u8], signature: &[u8]) -> bool {
    if modulus.len() != ARWEAVE_KEY_BYTES || signature.len() != ARWEAVE_KEY_BYTES {
        return false;
    }
    verify_any_size(modulus, message, signature)
}

/// [`verify`] for a key of any size (tests use small keys, quick to generate).
fn verify_any_size(modulus: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let n = BigUint::from_bytes_be(modulus);
    let mod_bits = n.bits();
    let k = mod_bits.div_ceil(8);
    // Keys below 512 bits are not Arweave keys and would make the arithmetic below degenerate.
    if mod_bits < 512 || signature.len() != k {
        return false;
    }
    let s = BigUint::from_bytes_be(signature);
    if s >= n {
        return false;
    }
    let m = s.modpow(&BigUint::from(PUBLIC_EXPONENT), &n);
    let em_bits = mod_bits - 1;
    let em_len = em_bits.div_ceil(8);
    let m_bytes = m.to_bytes_be();
    if m_bytes.len() > em_len {
        return false;
    }
    let mut em = vec![0u8; em_len];
    em[em_len - m_bytes.len()..].copy_from_slice(&m_bytes);
    emsa_pss_verify_any_salt(&Sha256::digest(message), &em, em_bits)
}

fn emsa_pss_verify_any_salt(m_hash: &[u8], em: &[u8], em_bits: usize) -> bool {
    let em_len = em.len();
    if em_len < H_LEN + 2 || em[em_len - 1] != 0xbc {
        return false;
    }
    let (masked_db, rest) = em.split_at(em_len - H_LEN - 1);
    let h = &rest[..H_LEN];
    let unused_bits = 8 * em_len - em_bits;
    let top_mask = 0xffu8 >> unused_bits;
    if masked_db[0] & !top_mask != 0 {
        return false;
    }
    let mut db = mgf1_sha256(h, masked_db.len());
    for (d, m) in db.iter_mut().zip(masked_db) {
        *d ^= m;
    }
    db[0] &= top_mask;
    let Some(separator) = db.iter().position(|&b| b != 0) else {
        return false;
    };
    if db[separator] != 0x01 {
        return false;
    }
    let salt = &db[separator + 1..];
    let expected = Sha256::new()
        .chain_update([0u8; 8])
        .chain_update(m_hash)
        .chain_update(salt)
        .finalize();
    expected.as_slice() == h
}

fn mgf1_sha256(seed: &[u8], len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + H_LEN);
    let mut counter: u32 = 0;
    while out.len() < len {
        out.extend_from_slice(
            &Sha256::new()
                .chain_update(seed)
                .chain_update(counter.to_be_bytes())
                .finalize(),
        );
        counter += 1;
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pss::SigningKey;
    use rsa::signature::{RandomizedSigner, SignatureEncoding};
    use rsa::traits::PublicKeyParts;

    #[test]
    fn accepts_every_salt_length_and_rejects_tampering() {
        let mut rng = rand::thread_rng();
        let key = rsa::RsaPrivateKey::new(&mut rng, 1024).unwrap();
        let modulus = key.n().to_bytes_be();
        let msg = b"deep hash bytes";
        for salt_len in [0, 20, 32, 1024 / 8 - 32 - 2] {
            let signer = SigningKey::<Sha256>::new_with_salt_len(key.clone(), salt_len);
            let sig = signer.sign_with_rng(&mut rng, msg).to_vec();
            assert!(verify_any_size(&modulus, msg, &sig), "salt {salt_len}");
            assert!(!verify_any_size(&modulus, b"other message", &sig));
            for i in [0, sig.len() / 2, sig.len() - 1] {
                let mut bad = sig.clone();
                bad[i] ^= 1;
                assert!(!verify_any_size(&modulus, msg, &bad));
            }
            assert!(!verify_any_size(&modulus, msg, &sig[1..]));
            let mut other_modulus = modulus.clone();
            other_modulus[10] ^= 0x40;
            assert!(!verify_any_size(&other_modulus, msg, &sig));
            // Valid, but not an Arweave (4096-bit) key.
            assert!(!verify(&modulus, msg, &sig));
        }
        assert!(!verify_any_size(&[], msg, &[]));
        assert!(!verify_any_size(&modulus, msg, &vec![0xff; modulus.len()]));
    }

    /// A 256 KiB "key" is refused at once; checked, it would cost minutes.
    #[test]
    fn huge_keys_are_refused_before_any_arithmetic() {
        let huge = vec![0xffu8; 256 * 1024];
        let mut signature = huge.clone();
        signature[0] = 0x7f; // below the modulus, so only the size can refuse it
        let started = std::time::Instant::now();
        assert!(!verify(&huge, b"message", &signature));
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
    }
}
