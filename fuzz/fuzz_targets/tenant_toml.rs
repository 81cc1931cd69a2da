#![no_main]
//! Fuzz target `tenant_toml`: a tenant file in arbitrary UTF-8, as the admin
//! `PUT /api/v1/tenants` receives it. Parsing (which validates) must never panic; a file that
//! is accepted must validate, survive `to_toml` and parse back to the same file, and turn into
//! a tenant whose prompts and accounts can be read.
use concierge_core::ids::Channel;
use concierge_core::tenant::TenantFile;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = TenantFile::from_toml(text) else {
        return;
    };
    assert!(
        file.validate().is_ok(),
        "from_toml accepted an invalid file"
    );
    let written = file.to_toml().expect("an accepted file serializes");
    let again = TenantFile::from_toml(&written).expect("a written file parses back");
    assert_eq!(
        again, file,
        "round trip through TOML changed the file:\n{written}"
    );
    let tenant = file.into_tenant();
    let _ = tenant.channels.accounts();
    for channel in Channel::ALL {
        let _ = tenant.system_prompt(channel, None);
    }
});
