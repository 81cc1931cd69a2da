//! The core's store contract, run against SQLite and Postgres.

mod sqlite {
    concierge_core::store_contract_tests!(
        runner = crate::helpers::run,
        store = crate::helpers::sqlite_store().await
    );
}

mod postgres {
    concierge_core::store_contract_tests!(
        runner = crate::helpers::run,
        store = match crate::helpers::pg_store().await {
            Some(store) => store,
            None => return,
        }
    );
}
