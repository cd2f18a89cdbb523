"""Every error the console raises on purpose, and what the caller should do.

The tree::

    ConsoleError                      root; ``message_key`` + ``params`` make the user text
    ├── ConfigError                   settings or policy file is malformed -> fix the file
    │   ├── PolicyError               IT's managed policy is malformed -> IT fixes it; the
    │   │                             console refuses to run meanwhile
    │   ├── PolicyOverrideError       a flag tried to change a policy key -> drop the flag
    │   ├── PolicyOnlyError           a policy-only key in settings.toml -> ask IT
    │   └── InsecureTransportError    http:// or ws:// to a non-loopback host -> use TLS
    ├── CredentialError               the console's PIN or passphrase (app/credentials.py)
    │   ├── CredentialTooWeakError    a new PIN/passphrase is too short -> choose another
    │   ├── WrongCredentialError      does not match -> ask again after ``wait_s``
    │   ├── UnlockThrottledError      too soon after failures -> wait ``wait_s`` seconds
    │   └── CredentialFileError       the hash file is damaged or edited -> IT restores it
    ├── InputRejectedError            bad input (import, search, note) -> tell the user; no change
    │   └── ImportRejectedError       a FHIR Bundle failed validation; ``reason`` says why
    ├── StoreError                    the encrypted store
    │   ├── StoreLockedError          locked (idle logoff) -> ask the user to unlock
    │   ├── KeyringUnavailableError   no OS keyring -> offer passphrase mode
    │   ├── KeyMissingError           store exists but its key is gone from the keyring -> recover
    │   │   └── KeyMismatchError      the keyring holds a key that does not open the store
    │   ├── PassphraseRequiredError   the store is passphrase-protected -> ask for it
    │   ├── WrongPassphraseError      passphrase does not open the store -> ask again
    │   ├── PassphraseTooShortError   a new passphrase is too short -> ask for a longer one
    │   ├── StoreDamagedError         truncated or corrupted file -> restore from backup / support
    │   ├── StoreMissingError         metadata says a store existed but the file is gone -> restore
    │   ├── SchemaTooNewError         written by a newer console -> upgrade the console
    │   ├── DiskFullError             no space; the change was not saved -> free space, retry
    │   └── RecordNotFoundError       the record does not exist (any more)
    ├── AuditTamperedError            the audit chain does not verify; ``first_bad_seq``
    ├── AnnotationConflictError       a still's annotations changed since read -> reload, redo
    ├── SyncError                     the FHIR record store failed; ``status`` (HTTP) when known
    │   ├── SyncRetryableError        network, timeout, 5xx, 408, 429 -> retry later, not before
    │   │                             ``retry_after_s`` (the server's ``Retry-After``) if set
    │   ├── SyncAuthError             401/403, token refused -> re-authenticate / fix credentials
    │   │   └── SyncSecretMissingError  no secret in the keyring -> ``secret set record_store``
    │   ├── SyncConflictError         409 or 412: changed elsewhere -> keep both versions, let
    │   │                             the user resolve; ``issue_code``, ``diagnostics``
    │   ├── SyncRejectedError         other 4xx: content refused -> show why, do not resend as
    │   │                             is; ``issue_code``, ``severity``, ``diagnostics``
    │   ├── SyncTlsError              certificate not trusted -> IT adds the CA (``ca_file``)
    │   ├── SyncProtocolError         malformed or hostile response -> nothing was used from
    │   │                             it; retry later, report the server if it persists
    │   ├── SyncInternalError         a round failed unexpectedly (a bug, a resource no rule
    │   │                             foresaw); ``reason`` is the exception type -> the loop
    │   │                             retries with backoff; report it if it persists
    │   └── SyncConfigError           [record_store] unusable (URL, auth, ca_file) -> fix it
    ├── DeviceError                   a camera, microphone or stethoscope
    │   └── DeviceUnavailableError    missing, busy or unplugged -> pick another device / replug
    ├── MediaFileError                a WAV, video or image file is corrupt or unsupported -> tell
    │                                 the user which file; nothing was imported
    ├── VisitError                    a video visit
    │   ├── VisitConnectError         media server or peer unreachable -> retry, check network
    │   ├── VisitAuthError            wrong room PIN or room secret -> ask for the right one
    │   ├── VisitProtocolError        malformed signalling or SDP from the far end -> end/retry
    │   ├── VisitInsecureTransportError  plain ws:// to a non-loopback host -> use wss:// or ask IT
    │   └── VisitEndedError           the room is gone or the host removed us -> leave
    ├── PluginError                   a plugin; ``plugin_id`` names it; it is disabled
    │   ├── PluginManifestError       bad plugin.toml -> the author fixes it
    │   ├── PluginLoadError           import error / wrong signature / exception -> disabled
    │   ├── PluginNotAllowedError     not on the policy's plugins.allow -> IT decides
    │   ├── PluginCapabilityError     used a capability it was not granted
    │   └── CapabilityUnavailableError  granted, but nothing behind it now (no visit
    │                                 running, no encounter open) -> try again later
    ├── SigningError                  signing a note (app/notes_signing.py) -> nothing was signed
    │   ├── SigningKeyError           the clinician's signing key is unavailable (keyring locked
    │   │                             or missing) -> unlock the keyring, sign again
    │   └── NoteChangedError          the note changed (or is in conflict) between reading and
    │                                 signing -> review it and sign again
    ├── UpdateError                   the updater
    │   ├── UpdateUnavailableError    repository unreachable -> retry later
    │   └── UpdateVerificationError   metadata or target fails verification (tampered, expired,
    │                                 rollback) -> nothing installed; tell IT
    ├── IdentityError                 clinician sign-in (app/identity.py, docs/identity.md)
    │   ├── IdentityConfigError       [identity] unusable (issuer, client id) -> IT fixes it
    │   ├── IdentityUnreachableError  the identity provider cannot be reached -> the offline
    │   │                             PIN, where the policy allows it, else retry later
    │   ├── SignInCancelledError      the browser sign-in was abandoned or timed out -> retry
    │   ├── SignInRefusedError        the provider refused (denied, invalid_grant) -> retry / IT
    │   ├── SignInRequiredError       no usable sign-in (token refresh refused, nobody signed
    │   │                             in) -> sign in again online
    │   ├── IdTokenInvalidError       the ID token failed verification -> nothing was used; IT
    │   ├── OfflineEntryRefusedError  offline re-entry not possible (online, never signed in
    │   │                             here, period over, no PIN) -> sign in online
    │   └── WrongOfflinePinError      -> ask again after ``wait_s`` (throttled like the PIN)
    └── CommandError                  a headless command could not do its job; exit non-zero

User-facing text never contains patient data: ``str(exc)`` renders the message
key's template with *non-identifying* parameters only (ids, counts, file names
chosen by the user, versions). Library errors are translated at the boundary
with ``raise ... from exc`` so core code never catches ``sqlite``/``keyring``
exceptions itself.

``SyncConflictError.diagnostics`` and ``SyncRejectedError.diagnostics`` hold the
server's OperationOutcome text, truncated and with quoted values removed, for a
details view. It is deliberately not part of ``str(exc)``: a server may echo
submitted content in it, so it is shown to the user on request, never logged.
"""

from __future__ import annotations

from typing import Any, ClassVar

# Message templates by key. Keys are stable (tests and translations use them);
# placeholders carry only non-identifying values.
MESSAGES: dict[str, str] = {
    "config.malformed": "The settings file {path} could not be read: {reason}.",
    "config.policy_malformed": (
        "Your organisation's managed policy {path} is not valid ({reason}). The console will "
        "not run until IT corrects it."
    ),
    "config.policy_override": (
        "{key} is set by your organisation's managed policy; {option} cannot change it."
    ),
    "config.insecure_transport": (
        "{key} uses plain {scheme}:// to {host}, which would send credentials and patient "
        "data unencrypted. Use {secure}://; only IT can allow this host, in the managed "
        "policy (security.allow_insecure_hosts)."
    ),
    "config.policy_only": (
        "{key} in {path} can only be set by your organisation's managed policy."
    ),
    "config.demo_not_allowed": (
        "Demo mode is turned off by your organisation's managed policy (demo.allowed)."
    ),
    "credential.too_weak": "{reason}",
    "credential.wrong": "That is not the console's {what}. Try again.",
    "credential.throttled": "Too many wrong attempts: wait {wait_s} seconds, then try again.",
    "credential.file": (
        "The console's unlock file in the profile is damaged or was changed ({reason}). "
        "The console will not open without it; ask IT to restore the profile from a backup."
    ),
    "input.rejected": "The input was rejected: {reason}.",
    "signing.failed": "The note was not signed: {reason}.",
    "signing.key": (
        "The note was not signed: your signing key is not available ({reason}). Unlock the "
        "system keyring and sign again."
    ),
    "signing.changed": (
        "The note was not signed because it changed or is in conflict ({reason}). Review it "
        "and sign again."
    ),
    "import.rejected": "The import file was rejected and nothing was changed: {reason}.",
    "store.locked": "The record store is locked. Unlock it to continue.",
    "store.keyring_unavailable": (
        "No OS keyring is available ({backend}). The store key cannot be kept safely; "
        "use a passphrase instead."
    ),
    "store.key_missing": (
        "The key for the record store at {path} is missing from the OS keyring. "
        "The store was left untouched. Restore the keyring entry, or restore the store "
        "from a backup (see docs/storage.md, 'Recovering')."
    ),
    "store.key_mismatch": (
        "The key in the OS keyring does not open the record store at {path}. "
        "The store was left untouched (see docs/storage.md, 'Recovering')."
    ),
    "store.passphrase_required": (
        "The record store is protected by a passphrase. Enter it to unlock."
    ),
    "store.passphrase_too_short": "A passphrase needs at least {minimum} characters.",
    "store.wrong_passphrase": "The passphrase does not open the record store. Try again.",
    "store.damaged": (
        "The record store at {path} is damaged ({reason}). It was left untouched; "
        "restore it from a backup or contact support."
    ),
    "store.missing": (
        "The record store file {path} is missing although this profile had one. "
        "Nothing was created; restore the file from a backup."
    ),
    "store.schema_too_new": (
        "The record store was written by a newer Clinician Console (schema {found}, "
        "this version knows up to {known}). Upgrade the console; the store was left untouched."
    ),
    "store.disk_full": "The disk is full: the last change was not saved. Free some space; "
    "the console will try again.",
    "store.metadata_damaged": (
        "The record store's key metadata ({path}) does not match the store: {reason}. "
        "Nothing was deleted or changed. Restore {path} from a backup of this profile (the "
        "database and its key are untouched); see docs/storage.md, 'When opening fails'."
    ),
    "store.not_encrypted_engine": (
        "This build of the console is not linked against SQLCipher ({reason}), so it cannot "
        "encrypt the record store. Nothing was written. Reinstall the console from IT's package."
    ),
    "audit.rollback": (
        "The record store is older than its last recorded state: audit entry {seq} {problem}. "
        "It was restored from an older copy or its write-ahead log (store.db-wal) was removed, "
        "so recent work may be missing. Nothing was changed. Put the newer files back; if the "
        "restore was intended, IT runs `clinician-console audit reanchor --confirm` (which is "
        "itself recorded in the audit log)."
    ),
    "audit.key_missing": (
        "The audit log's key for the record store at {path} is missing from the OS keyring, so "
        "the audit trail cannot be checked or continued. The store was left untouched; restore "
        "the keyring from a backup (see docs/storage.md, 'Audit log')."
    ),
    "store.not_found": "The {kind} {record_id} does not exist.",
    "store.io": "The record store could not be used: {reason}.",
    "audit.tampered": "The audit log does not verify: entry {seq} {problem}.",
    "command.failed": "{reason}",
    "sync.failed": "Syncing with the record store failed: {reason}.",
    "sync.retryable": (
        "The record store cannot be reached right now ({reason}). The console keeps everything "
        "and will try again."
    ),
    "sync.auth": (
        "The record store did not accept the console's credentials ({reason}). Check the user "
        "name or client id in [record_store] and the secret set with "
        "`clinician-console secret set record_store`."
    ),
    "sync.secret_missing": (
        "The OS keyring holds no secret for the record store (auth = {auth}). IT sets it with "
        "`clinician-console secret set record_store`, which reads the password, client secret "
        "or private key (PEM) from standard input."
    ),
    "pacs.auth": (
        "The PACS did not accept the console's credentials (HTTP {status}). Stills wait "
        "here and the PACS is not asked again with the same credentials. Re-authenticate: "
        "check auth and username in [pacs], then set the password or token again with "
        "`clinician-console secret set pacs` (or choose Retry once the PACS account is fixed)."
    ),
    "pacs.secret_missing": (
        "The OS keyring holds no secret for the PACS (auth = {auth}). Stills wait here. IT "
        "sets it with `clinician-console secret set pacs`, which reads the password or "
        "bearer token from standard input."
    ),
    "pacs.config": "The PACS is not set up correctly: {reason}. Stills wait here.",
    "sync.conflict": (
        "The record store refused the change because the record was changed elsewhere since "
        "this console last saw it (HTTP {status})."
    ),
    "sync.rejected": "The record store refused the request (HTTP {status}, {issue_code}).",
    "sync.tls": (
        "The record store's TLS certificate could not be verified ({reason}). If the server "
        "uses a certificate from your organisation's own certificate authority, IT adds that "
        "CA bundle (PEM file) as ca_file in the [record_store] section of the settings or of "
        "the managed policy."
    ),
    "sync.protocol": (
        "The record store sent a response the console cannot use ({reason}). Nothing was taken "
        "from it; the console will try again."
    ),
    "sync.config": "The record store is not set up correctly: {reason}.",
    "sync.internal": (
        "Sync ran into an unexpected problem ({reason}). Nothing was lost; the console will "
        "try again. Tell IT if this keeps happening."
    ),
    "device.failed": "The device {device} could not be used: {reason}.",
    "device.unavailable": (
        "The device {device} is not available ({reason}). Check that it is plugged in and not "
        "used by another program, or choose another device."
    ),
    "media_file.rejected": "The file {name} could not be used: {reason}. Nothing was imported.",
    "visit.failed": "The visit could not continue: {reason}.",
    "visit.connect": (
        "The media server could not be reached ({reason}). Check the network; the console "
        "can try again."
    ),
    "visit.auth": "The media server refused to let the console join: {reason}.",
    "visit.protocol": (
        "The media server or the other participant sent something the console cannot use "
        "({reason}). The call was not changed by it."
    ),
    "visit.ended": "The visit has ended: {reason}.",
    "visit.remote_still": "The picture from the far end did not arrive: {reason}.",
    "visit.insecure": (
        "The media server address {url} uses plain {scheme}://, which would send the room "
        "PIN and the call's keys unencrypted. Use {secure}:// (ask IT for the address); only "
        "IT can allow this host, in the managed policy (security.allow_insecure_hosts)."
    ),
    "plugin.failed": "The plugin {plugin_id} failed and was disabled: {reason}.",
    "plugin.manifest": "The plugin manifest {path} is not valid: {reason}.",
    "plugin.load": "The plugin {plugin_id} could not be loaded and was disabled: {reason}.",
    "plugin.not_allowed": (
        "The plugin {plugin_id} is not on your organisation's list of allowed plugins "
        "(plugins.allow) and was not loaded."
    ),
    "plugin.capability": (
        "The plugin {plugin_id} used the capability {capability}, which it was not granted."
    ),
    "plugin.capability_unavailable": "{capability} is not available right now: {reason}.",
    "update.failed": "Updating failed: {reason}.",
    "update.unavailable": (
        "The update repository could not be reached ({reason}). The console will check again later."
    ),
    "update.verification": (
        "An update was refused because it failed verification ({reason}). Nothing was "
        "installed; tell your IT department."
    ),
}


class ConsoleError(Exception):
    """Root of the console's own errors; carries a message key and safe params."""

    message_key: ClassVar[str] = "command.failed"

    def __init__(self, **params: Any) -> None:
        self.params = params
        super().__init__(self.user_message())

    def user_message(self) -> str:
        template = MESSAGES.get(self.message_key, self.message_key)
        try:
            return template.format(**self.params)
        except (KeyError, IndexError):
            return template


class ConfigError(ConsoleError):
    message_key = "config.malformed"


class PolicyError(ConfigError):
    message_key = "config.policy_malformed"


class PolicyOverrideError(ConfigError):
    """A flag or variable tried to change what the managed policy sets: drop the flag."""

    message_key = "config.policy_override"


class InsecureTransportError(ConfigError):
    """A plain http:// or ws:// URL to a host that is not loopback: use TLS, or ask IT."""

    message_key = "config.insecure_transport"


class PolicyOnlyError(ConfigError):
    """A key only IT's policy may set appeared in the user's settings.toml."""

    message_key = "config.policy_only"


class DemoNotAllowedError(ConsoleError):
    message_key = "config.demo_not_allowed"


class CredentialError(ConsoleError):
    message_key = "credential.file"


class CredentialTooWeakError(CredentialError):
    message_key = "credential.too_weak"


class WrongCredentialError(CredentialError):
    """``what`` is "PIN" or "passphrase"; ``wait_s`` the delay before the next try."""

    message_key = "credential.wrong"


class UnlockThrottledError(CredentialError):
    message_key = "credential.throttled"


class CredentialFileError(CredentialError):
    message_key = "credential.file"


class InputRejectedError(ConsoleError):
    message_key = "input.rejected"


class ImportRejectedError(InputRejectedError):
    message_key = "import.rejected"

    @property
    def reason(self) -> str:
        return str(self.params.get("reason", ""))


class StoreError(ConsoleError):
    message_key = "store.io"


class StoreLockedError(StoreError):
    message_key = "store.locked"


class KeyringUnavailableError(StoreError):
    message_key = "store.keyring_unavailable"


class KeyMissingError(StoreError):
    message_key = "store.key_missing"


class KeyMismatchError(KeyMissingError):
    message_key = "store.key_mismatch"


class PassphraseRequiredError(StoreError):
    message_key = "store.passphrase_required"


class PassphraseTooShortError(StoreError):
    message_key = "store.passphrase_too_short"

    @property
    def minimum(self) -> int:
        return int(self.params["minimum"])


class WrongPassphraseError(StoreError):
    message_key = "store.wrong_passphrase"


class StoreDamagedError(StoreError):
    message_key = "store.damaged"


class StoreMetadataDamagedError(StoreDamagedError):
    """store.json failed its authentication check: restore it; never start again."""

    message_key = "store.metadata_damaged"


class NotEncryptedEngineError(StoreError):
    """The SQLite engine in use is not SQLCipher: refuse before writing anything."""

    message_key = "store.not_encrypted_engine"


class AuditKeyMissingError(KeyMissingError):
    message_key = "audit.key_missing"


class StoreMissingError(StoreError):
    message_key = "store.missing"


class SchemaTooNewError(StoreError):
    message_key = "store.schema_too_new"


class DiskFullError(StoreError):
    message_key = "store.disk_full"


class RecordNotFoundError(StoreError):
    message_key = "store.not_found"


class AuditTamperedError(ConsoleError):
    message_key = "audit.tampered"

    @property
    def first_bad_seq(self) -> int:
        return int(self.params["seq"])


class AuditRollbackError(StoreError):
    """The database is older than the audit anchor kept outside it (restored copy, lost WAL).

    ``seq`` is the anchored entry that is missing or different. A deliberate
    restore is accepted with ``clinician-console audit reanchor --confirm``.
    """

    message_key = "audit.rollback"


class CommandError(ConsoleError):
    message_key = "command.failed"


class SyncError(ConsoleError):
    """Root of record-store (FHIR server) failures; ``status`` is the HTTP status if any."""

    message_key = "sync.failed"

    @property
    def status(self) -> int | None:
        value = self.params.get("status")
        return value if isinstance(value, int) else None


class SyncRetryableError(SyncError):
    message_key = "sync.retryable"

    @property
    def retry_after_s(self) -> float | None:
        """Seconds the server asked us to wait (``Retry-After``), else ``None``."""
        value = self.params.get("retry_after_s")
        return float(value) if isinstance(value, int | float) else None


class SyncAuthError(SyncError):
    message_key = "sync.auth"


class SyncSecretMissingError(SyncAuthError):
    message_key = "sync.secret_missing"


class PacsAuthError(SyncAuthError):
    """The PACS (``[pacs] stow_url``) answered 401 or 403: re-authenticate. Retrying with
    the same credentials cannot help and may lock the account, so it is not done."""

    message_key = "pacs.auth"


class PacsSecretMissingError(PacsAuthError):
    message_key = "pacs.secret_missing"


class SyncConflictError(SyncError):
    message_key = "sync.conflict"

    @property
    def issue_code(self) -> str:
        return str(self.params.get("issue_code", ""))

    @property
    def diagnostics(self) -> str:
        """Scrubbed, truncated server text for a details view; never part of ``str(exc)``."""
        return str(self.params.get("diagnostics", ""))


class SyncRejectedError(SyncError):
    message_key = "sync.rejected"

    @property
    def issue_code(self) -> str:
        return str(self.params.get("issue_code", ""))

    @property
    def severity(self) -> str:
        return str(self.params.get("severity", ""))

    @property
    def diagnostics(self) -> str:
        """Scrubbed, truncated server text for a details view; never part of ``str(exc)``."""
        return str(self.params.get("diagnostics", ""))


class SyncTlsError(SyncError):
    message_key = "sync.tls"


class SyncProtocolError(SyncError):
    message_key = "sync.protocol"


class SyncConfigError(SyncError):
    message_key = "sync.config"


class PacsConfigError(SyncConfigError):
    message_key = "pacs.config"


class SyncInternalError(SyncError):
    """Not raised by adapters: the sync loop's report of an exception no adapter
    translated; ``reason`` is only its type name (its text may quote server data)."""

    message_key = "sync.internal"


class DeviceError(ConsoleError):
    message_key = "device.failed"


class DeviceUnavailableError(DeviceError):
    message_key = "device.unavailable"


class MediaFileError(InputRejectedError):
    message_key = "media_file.rejected"


class VisitError(ConsoleError):
    message_key = "visit.failed"


class VisitConnectError(VisitError):
    message_key = "visit.connect"


class VisitAuthError(VisitError):
    message_key = "visit.auth"


class VisitProtocolError(VisitError):
    message_key = "visit.protocol"


class VisitEndedError(VisitError):
    message_key = "visit.ended"


class RemoteStillError(VisitError):
    """A still asked of the far end's cart did not arrive whole (nothing was stored): ask
    again, or have the cart send it through the record store."""

    message_key = "visit.remote_still"


class VisitInsecureTransportError(VisitError):
    """Plain ws:// or http:// to a host that is neither loopback nor allowed by policy."""

    message_key = "visit.insecure"


class PluginError(ConsoleError):
    message_key = "plugin.failed"

    @property
    def plugin_id(self) -> str:
        return str(self.params.get("plugin_id", ""))


class PluginManifestError(PluginError):
    message_key = "plugin.manifest"


class PluginLoadError(PluginError):
    message_key = "plugin.load"


class PluginNotAllowedError(PluginError):
    message_key = "plugin.not_allowed"


class PluginCapabilityError(PluginError):
    message_key = "plugin.capability"


class CapabilityUnavailableError(PluginError):
    message_key = "plugin.capability_unavailable"


class SigningError(ConsoleError):
    """A note was not signed; ``reason`` says why (never note text). Nothing changed."""

    message_key = "signing.failed"


class SigningKeyError(SigningError):
    message_key = "signing.key"


class NoteChangedError(SigningError):
    message_key = "signing.changed"


class UpdateError(ConsoleError):
    message_key = "update.failed"


class UpdateUnavailableError(UpdateError):
    message_key = "update.unavailable"


class UpdateVerificationError(UpdateError):
    message_key = "update.verification"


# -- clinician sign-in (app/identity.py) ---------------------------------------------
MESSAGES.update(
    {
        "identity.config": "Clinician sign-in is not set up correctly: {reason}. Ask IT.",
        "identity.unreachable": (
            "The sign-in service cannot be reached ({reason}). If you signed in on this "
            "computer recently, you can use your offline PIN."
        ),
        "identity.cancelled": "Sign-in was not completed ({reason}). Try again.",
        "identity.refused": "The sign-in service refused the sign-in ({reason}).",
        "identity.required": "Please sign in again ({reason}).",
        "identity.id_token": (
            "The sign-in service's answer could not be verified ({reason}); it was not used. "
            "Tell IT if this keeps happening."
        ),
        "identity.offline_refused": "Offline sign-in is not possible: {reason}.",
        "identity.wrong_offline_pin": "That is not your offline PIN. Try again.",
    }
)


class IdentityError(ConsoleError):
    message_key = "identity.refused"


class IdentityConfigError(IdentityError):
    message_key = "identity.config"


class IdentityUnreachableError(IdentityError):
    message_key = "identity.unreachable"


class SignInCancelledError(IdentityError):
    message_key = "identity.cancelled"


class SignInRefusedError(IdentityError):
    message_key = "identity.refused"


class SignInRequiredError(IdentityError):
    message_key = "identity.required"


class IdTokenInvalidError(IdentityError):
    message_key = "identity.id_token"


class OfflineEntryRefusedError(IdentityError):
    message_key = "identity.offline_refused"


class WrongOfflinePinError(IdentityError):
    message_key = "identity.wrong_offline_pin"


# -- annotations on stills (app/annotations.py) -------------------------------------
MESSAGES.update(
    {
        "annotations.conflict": (
            "The annotations on this still were changed elsewhere (now version {found}); "
            "yours were not saved. Reload them and add your changes again."
        ),
    }
)


class AnnotationConflictError(ConsoleError):
    """Someone saved a newer version of a still's annotations since ``base`` was read ->
    reload (``found`` is the latest version) and redo; nothing was written."""

    message_key = "annotations.conflict"
