//! Digests for `Upload-Checksum` values, computed independently of the server.

use base64::Engine as _;
use sha2::Digest as _;

/// The raw digest of `data` with the tus algorithm `name`
/// (`sha1`, `sha256`, `sha512`, `md5`, `crc32`, `crc32c`).
///
/// # Panics
/// For any other name.
pub fn digest(name: &str, data: &[u8]) -> Vec<u8> {
    match name {
        "sha1" => sha1::Sha1::digest(data).to_vec(),
        "sha256" => sha2::Sha256::digest(data).to_vec(),
        "sha512" => sha2::Sha512::digest(data).to_vec(),
        "md5" => md5::Md5::digest(data).to_vec(),
        "crc32" => crc32(data, 0xEDB8_8320).to_be_bytes().to_vec(),
        "crc32c" => crc32(data, 0x82F6_3B78).to_be_bytes().to_vec(),
        other => panic!("no digest for {other:?}"),
    }
}

/// Base64 of the digest, as in `Upload-Checksum`.
pub fn digest_base64(name: &str, data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(digest(name, data))
}

/// The `Upload-Checksum` value `<name> <base64 digest>` for `data`.
pub fn upload_checksum(name: &str, data: &[u8]) -> String {
    format!("{name} {}", digest_base64(name, data))
}

/// A well-formed `Upload-Checksum` value for `name` whose digest does not match `data`.
pub fn wrong_checksum(name: &str, data: &[u8]) -> String {
    let mut bytes = digest(name, data);
    bytes[0] ^= 0xff;
    format!("{name} {}", base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// The reflected CRC-32 with the given reversed polynomial (IEEE or Castagnoli).
fn crc32(data: &[u8], polynomial: u32) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ polynomial } else { crc >> 1 };
        }
    }
    !crc
}

/// Standard base64.
pub fn base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes standard base64 (padding optional); `None` if invalid.
pub fn unbase64(text: &str) -> Option<Vec<u8>> {
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_vectors() {
        assert_eq!(digest_base64("sha1", b"hello world"), "Kq5sNclPz7QV2+lfQIuc6R7oRu0=");
        assert_eq!(crc32(b"123456789", 0xEDB8_8320), 0xCBF4_3926);
        assert_eq!(crc32(b"123456789", 0x82F6_3B78), 0xE306_9283);
    }
}
