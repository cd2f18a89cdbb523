"""Storage adapters: the encrypted SQLCipher store, its key management, audit log, outbox and FHIR mapping."""
