"""Key material parsed once: private keys, certificate chains and PKCS#12 bundles from the
``key``/``cert``/``pfx``/``passphrase`` options (PEM text or bytes, or a ``pathlib.Path``), as
cryptography objects, with errors that name the option.  Used to build contexts
(``context.py``) and to find the certificate an OCSP staple is for (``ocsp.py``)."""
from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from greentls._config.options import Options, read_material_list

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

    #: One ``pfx`` item: its key, its leaf and its extra (CA) certificates.
    PfxItem: TypeAlias = tuple[PrivateKeyTypes, x509.Certificate, list[x509.Certificate]]

__all__ = ["load_cert_chain", "load_key", "load_pfx", "passphrase_bytes", "public_der"]


def passphrase_bytes(options: Options) -> bytes | None:
    value = options.get("passphrase")
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bytes):
        return value
    raise TypeError("option 'passphrase' must be str or bytes")


def _item_and_passphrase(item: object, field: str, default: bytes | None) -> tuple[object, bytes | None]:
    """A key-material item and its passphrase: Node's ``{field: material, "passphrase": ...}``
    object form (``pem`` for keys, ``buf`` for PKCS#12), or the bare item with the default."""
    if not isinstance(item, dict):
        return item, default
    passphrase = item.get("passphrase", default)
    if isinstance(passphrase, str):
        passphrase = passphrase.encode("utf-8")
    return item.get(field), passphrase


def load_key(item: object, default_passphrase: bytes | None) -> PrivateKeyTypes:
    """One ``key`` item (content, path, or ``{"pem", "passphrase"}``) as a cryptography key."""
    pem, passphrase = _item_and_passphrase(item, "pem", default_passphrase)
    (data,) = read_material_list("key", pem)
    try:
        return serialization.load_pem_private_key(data, password=passphrase)
    except TypeError as exc:  # encrypted without passphrase, or passphrase for a plain key
        raise ValueError(f"option 'key': {exc} (option 'passphrase')") from exc
    except ValueError as exc:
        text = str(exc)
        # A wrong passphrase usually fails the padding check ("bad decrypt"), but about one time
        # in 256 it decrypts to garbage that then fails to parse: for an encrypted key with a
        # passphrase, both mean the passphrase.
        wrong_passphrase = passphrase is not None and b"ENCRYPTED" in data
        if wrong_passphrase or "password" in text.lower() or "decrypt" in text.lower():
            raise ValueError("option 'key': bad decrypt (wrong 'passphrase'?)") from exc
        raise ValueError(f"option 'key': not a PEM private key ({text})") from exc


def load_cert_chain(data: bytes) -> list[x509.Certificate]:
    try:
        chain = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise ValueError(f"option 'cert': not a PEM certificate ({exc})") from exc
    return chain


def public_der(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def load_pfx(options: Options) -> list[PfxItem]:
    """Every ``pfx`` item as (key, leaf, extra certificates); items may be ``{"buf", "passphrase"}``.

    PKCS#12 is parsed by cryptography (``pkcs12.load_key_and_certificates``), as Node's
    ``SecureContext::LoadPKCS12`` does with ``PKCS12_parse``."""
    from cryptography.hazmat.primitives.serialization import pkcs12
    value = options["pfx"]
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    default = passphrase_bytes(options)
    loaded: list[PfxItem] = []
    for item in items:
        buf, passphrase = _item_and_passphrase(item, "buf", default)
        (data,) = read_material_list("pfx", buf)
        try:
            key, leaf, extra = pkcs12.load_key_and_certificates(data, passphrase)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"option 'pfx': cannot read PKCS#12 (wrong 'passphrase' or not "
                             f"PKCS#12: {exc})") from exc
        if key is None or leaf is None:
            raise ValueError("option 'pfx': the PKCS#12 holds no private key and certificate")
        loaded.append((key, leaf, list(extra)))
    return loaded
