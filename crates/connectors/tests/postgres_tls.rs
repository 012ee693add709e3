//! `sslmode` against the real PostgreSQL on 127.0.0.1:5432, which serves TLS with Debian's
//! self-signed "snakeoil" certificate (its name is the machine's host name, not 127.0.0.1).

#![cfg(feature = "postgresql")]

use dataflow_connectors::postgres::connect;

const BASE: &str = "host=127.0.0.1 port=5432 user=root dbname=test";
const SNAKEOIL: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

/// Whether a connection with `BASE` plus `extra` settings is encrypted.
async fn encrypted(extra: &str) -> Result<bool, String> {
    session_is_encrypted(&format!("{BASE} {extra}")).await
}

async fn session_is_encrypted(connection_string: &str) -> Result<bool, String> {
    let client = connect(connection_string)
        .await
        .map_err(|e| format!("{e:?}"))?;
    let row = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .map_err(|e| e.to_string())?;
    Ok(row.get(0))
}

#[tokio::test]
async fn each_sslmode_does_what_libpq_does() {
    assert_eq!(encrypted("sslmode=disable").await, Ok(false));
    assert_eq!(
        encrypted("sslmode=prefer").await,
        Ok(true),
        "the server offers TLS"
    );
    assert_eq!(
        encrypted("sslmode=require").await,
        Ok(true),
        "encrypted, not verified"
    );
    assert_eq!(
        encrypted(&format!("sslmode=verify-ca sslrootcert={SNAKEOIL}")).await,
        Ok(true),
        "the chain is trusted; the name is not checked"
    );
    assert_eq!(
        encrypted(&format!("sslmode=require sslrootcert={SNAKEOIL}")).await,
        Ok(true),
        "require with a root verifies like verify-ca"
    );
    let wrong_name = encrypted(&format!("sslmode=verify-full sslrootcert={SNAKEOIL}"))
        .await
        .unwrap_err();
    assert!(
        wrong_name.contains("NotValidForName"),
        "verify-full checks the host name: {wrong_name}"
    );
    // With the system's CAs the certificate is refused too (an unknown issuer, or — where the
    // snakeoil certificate sits in the system store — the wrong name).
    let refused = encrypted("sslmode=verify-full").await.unwrap_err();
    assert!(
        refused.contains("InvalidCertificate") || refused.contains("sslrootcert"),
        "refused: {refused}"
    );
    assert_eq!(
        session_is_encrypted("postgresql://root@127.0.0.1:5432/test?sslmode=require").await,
        Ok(true),
        "URL form"
    );
}
