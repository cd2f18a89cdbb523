"""Storage adapters: the encrypted SQLCipher store, keys, audit log, outbox and FHIR mapping."""
