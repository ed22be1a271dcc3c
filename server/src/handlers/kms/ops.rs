//! Each KMS operation: its request shape (AWS's member names), the domain call and its
//! response shape. Blobs are base64, dates epoch seconds, as the JSON 1.1 protocol writes them.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::domain::keys::KeyMetadata;
use crate::domain::material::Message;
use crate::domain::policy::{PolicyDocument, aws_default_policy};
use crate::domain::{
    Caller, Ciphertext, Constraints, DataKeyLength, DomainError, Grant, GrantRef, Import,
    MaterialAnswer, NewGrant, NewKey, NewReplica, RotationEntry, Sealed, Target,
};
use crate::state::AppState;

type Result<T> = std::result::Result<T, DomainError>;
type Context = BTreeMap<String, String>;

/// Runs `operation` with its JSON input.
pub(super) async fn run(
    state: &AppState,
    caller: &Caller,
    operation: &str,
    input: Value,
) -> Result<Value> {
    let keys = &state.keys;
    // A refusal of the request as sent, audited under the operation.
    macro_rules! check {
        ($checked:expr) => {
            if let Err(e) = $checked {
                return keys.refuse(caller, operation, e).await;
            }
        };
    }
    macro_rules! parse {
        ($t:ty) => {
            match parse::<$t>(input) {
                Ok(v) => v,
                Err(e) => return keys.refuse(caller, operation, e).await,
            }
        };
    }
    match operation {
        "CreateKey" => create_key(state, caller, parse!(CreateKey)).await,
        "DescribeKey" => {
            let r = parse!(KeyOnly);
            let m = keys.describe(caller, &r.key_id).await?;
            Ok(json!({ "KeyMetadata": metadata(state, &m).await? }))
        }
        "ListKeys" => {
            let r = parse!(Page);
            let all = keys.list_keys(caller).await?;
            let (page, next) = page(&all, &r, 1000)?;
            let listed: Vec<Value> =
                page.iter().map(|k| json!({ "KeyId": k.key_id, "KeyArn": k.arn })).collect();
            Ok(paged(json!({ "Keys": listed }), next))
        }
        "UpdateKeyDescription" => {
            let r = parse!(UpdateDescription);
            keys.describe_as(caller, &r.key_id, r.description).await?;
            Ok(json!({}))
        }
        "EnableKey" | "DisableKey" | "CancelKeyDeletion" => {
            let r = parse!(KeyOnly);
            let action = match operation {
                "EnableKey" => "EnableKey",
                "DisableKey" => "DisableKey",
                _ => "CancelKeyDeletion",
            };
            let m = keys.transition(caller, &r.key_id, action, None).await?;
            Ok(if action == "CancelKeyDeletion" { json!({ "KeyId": m.arn }) } else { json!({}) })
        }
        "ScheduleKeyDeletion" => {
            let r = parse!(ScheduleDeletion);
            let days = r.pending_window_in_days.unwrap_or(30);
            let m = keys.transition(caller, &r.key_id, "ScheduleKeyDeletion", Some(days)).await?;
            Ok(json!({
                "KeyId": m.arn, "KeyState": m.key_state, "PendingWindowInDays": days,
                "DeletionDate": m.deletion_ms.map(seconds),
            }))
        }
        "GetPublicKey" => {
            let r = parse!(KeyOnly);
            let (m, spki) = keys.public_key_der(caller, &r.key_id).await?;
            let mut out = json!({
                "KeyId": m.arn, "PublicKey": STANDARD.encode(spki),
                "KeySpec": m.key_spec, "CustomerMasterKeySpec": m.key_spec,
                "KeyUsage": m.key_usage,
            });
            algorithms(&mut out, &m);
            Ok(out)
        }
        "Encrypt" => {
            let r = parse!(Encrypt);
            let target = Target {
                key_ref: &r.key_id,
                context: &r.encryption_context,
                algorithm: r.encryption_algorithm.as_deref(),
            };
            let plaintext = r.plaintext.0;
            let sealed = keys.encrypt(caller, target, plaintext, r.dry_run).await?;
            Ok(sealed_json(&sealed))
        }
        "Decrypt" => {
            let r = parse!(Decrypt);
            check!(no_recipient(r.recipient.as_ref()));
            let ciphertext = Ciphertext {
                blob: &r.ciphertext_blob.0,
                key_ref: r.key_id.as_deref(),
                context: &r.encryption_context,
                algorithm: r.encryption_algorithm.as_deref(),
            };
            let opened = keys.decrypt_blob(caller, ciphertext, r.dry_run).await?;
            Ok(json!({
                "KeyId": opened.key_arn,
                "Plaintext": STANDARD.encode(opened.plaintext.as_slice()),
                "EncryptionAlgorithm": opened.algorithm,
            }))
        }
        "ReEncrypt" => {
            let r = parse!(ReEncrypt);
            let source = Ciphertext {
                blob: &r.ciphertext_blob.0,
                key_ref: r.source_key_id.as_deref(),
                context: &r.source_encryption_context,
                algorithm: r.source_encryption_algorithm.as_deref(),
            };
            let target = Target {
                key_ref: &r.destination_key_id,
                context: &r.destination_encryption_context,
                algorithm: r.destination_encryption_algorithm.as_deref(),
            };
            let (sealed, source_arn, source_algorithm) =
                keys.re_encrypt(caller, source, target, r.dry_run).await?;
            Ok(json!({
                "CiphertextBlob": STANDARD.encode(&sealed.blob),
                "SourceKeyId": source_arn, "KeyId": sealed.key_arn,
                "SourceEncryptionAlgorithm": source_algorithm,
                "DestinationEncryptionAlgorithm": sealed.algorithm,
            }))
        }
        "GenerateDataKey" | "GenerateDataKeyWithoutPlaintext" => {
            let r = parse!(GenerateDataKey);
            check!(no_recipient(r.recipient.as_ref()));
            let length = match (r.number_of_bytes, r.key_spec.as_deref()) {
                (Some(n), None) => DataKeyLength::Bytes(n),
                (None, Some("AES_256")) => DataKeyLength::Spec(32),
                (None, Some("AES_128")) => DataKeyLength::Spec(16),
                (None, Some(other)) => {
                    let e = DomainError::invalid(format!(
                        "KeySpec must be AES_256 or AES_128, not {other:?}"
                    ));
                    return keys.refuse(caller, operation, e).await;
                }
                _ => {
                    let e =
                        DomainError::invalid("Please specify either number of bytes or key spec.");
                    return keys.refuse(caller, operation, e).await;
                }
            };
            let target =
                Target { key_ref: &r.key_id, context: &r.encryption_context, algorithm: None };
            let with_plaintext = operation == "GenerateDataKey";
            let (sealed, plaintext) =
                keys.generate_data_key(caller, target, length, with_plaintext, r.dry_run).await?;
            let mut out = json!({
                "CiphertextBlob": STANDARD.encode(&sealed.blob), "KeyId": sealed.key_arn,
            });
            if let Some(p) = plaintext {
                out["Plaintext"] = Value::String(STANDARD.encode(p.as_slice()));
            }
            Ok(out)
        }
        "GenerateDataKeyPair" | "GenerateDataKeyPairWithoutPlaintext" => {
            let r = parse!(GenerateDataKeyPair);
            check!(no_recipient(r.recipient.as_ref()));
            let target =
                Target { key_ref: &r.key_id, context: &r.encryption_context, algorithm: None };
            let with_plaintext = operation == "GenerateDataKeyPair";
            let (sealed, private, public) = keys
                .generate_data_key_pair(caller, target, &r.key_pair_spec, with_plaintext, r.dry_run)
                .await?;
            let mut out = json!({
                "PrivateKeyCiphertextBlob": STANDARD.encode(&sealed.blob),
                "PublicKey": STANDARD.encode(public), "KeyId": sealed.key_arn,
                "KeyPairSpec": r.key_pair_spec,
            });
            if let Some(p) = private {
                out["PrivateKeyPlaintext"] = Value::String(STANDARD.encode(p.as_slice()));
            }
            Ok(out)
        }
        "GenerateRandom" => {
            let r = parse!(GenerateRandom);
            if r.custom_key_store_id.is_some() || r.recipient.is_some() {
                let e = DomainError::Unsupported(
                    "custom key stores and Recipient are not supported".into(),
                );
                return keys.refuse(caller, operation, e).await;
            }
            let bytes = keys.generate_random(caller, r.number_of_bytes.unwrap_or(0)).await?;
            Ok(json!({ "Plaintext": STANDARD.encode(bytes.as_slice()) }))
        }
        "CreateAlias" | "UpdateAlias" => {
            let r = parse!(AliasTarget);
            let create = operation == "CreateAlias";
            keys.set_alias(caller, r.alias_name, r.target_key_id, create).await?;
            Ok(json!({}))
        }
        "DeleteAlias" => {
            let r = parse!(AliasOnly);
            keys.delete_alias(caller, r.alias_name).await?;
            Ok(json!({}))
        }
        "ListAliases" => {
            let r = parse!(ListAliases);
            let mut all = keys.list_aliases(caller).await?;
            if let Some(key) = &r.key_id {
                let id = keys.describe(caller, key).await?.key_id;
                all.retain(|a| a.key_id == id);
            }
            let (page, next) = page(&all, &r.page, 100)?;
            let listed: Vec<Value> = page
                .iter()
                .map(|a| {
                    json!({
                        "AliasName": a.alias_name,
                        "AliasArn": keys.alias_arn_of(caller, &a.alias_name),
                        "TargetKeyId": a.key_id,
                        "CreationDate": seconds(a.created_at),
                        "LastUpdatedDate": seconds(a.updated_at),
                    })
                })
                .collect();
            Ok(paged(json!({ "Aliases": listed }), next))
        }
        "TagResource" => {
            let r = parse!(TagResource);
            keys.retag(caller, &r.key_id, tag_map(r.tags), Vec::new()).await?;
            Ok(json!({}))
        }
        "UntagResource" => {
            let r = parse!(UntagResource);
            if r.tag_keys.is_empty() {
                let e = DomainError::invalid("TagKeys must name at least one tag");
                return keys.refuse(caller, operation, e).await;
            }
            keys.retag(caller, &r.key_id, BTreeMap::new(), r.tag_keys).await?;
            Ok(json!({}))
        }
        "ListResourceTags" => {
            let r = parse!(KeyPage);
            let tags: Vec<(String, String)> =
                keys.tags(caller, &r.key_id).await?.into_iter().collect();
            let (page, next) = page(&tags, &r.page, 50)?;
            let listed: Vec<Value> =
                page.iter().map(|(k, v)| json!({ "TagKey": k, "TagValue": v })).collect();
            Ok(paged(json!({ "Tags": listed }), next))
        }
        "GetKeyPolicy" => {
            let r = parse!(PolicyName);
            default_policy_name(r.policy_name.as_deref())?;
            let (_, policy) = keys.get_policy(caller, &r.key_id).await?;
            let text =
                serde_json::to_string(&policy).map_err(|e| DomainError::internal(e.to_string()))?;
            Ok(json!({ "Policy": text, "PolicyName": "default" }))
        }
        "PutKeyPolicy" => {
            let r = parse!(PutKeyPolicy);
            let checked = default_policy_name(r.policy_name.as_deref())
                .and_then(|()| policy_document(&r.policy));
            let document = match checked {
                Ok(d) => d,
                Err(e) => return keys.refuse(caller, operation, e).await,
            };
            keys.put_policy(caller, &r.key_id, document).await?;
            Ok(json!({}))
        }
        "ListKeyPolicies" => {
            let r = parse!(KeyPage);
            keys.get_policy(caller, &r.key_id).await?;
            Ok(json!({ "PolicyNames": ["default"], "Truncated": false }))
        }
        "CreateGrant" => {
            let r = parse!(CreateGrant);
            let new = NewGrant {
                grantee: r.grantee_principal,
                retiring: r.retiring_principal,
                operations: r.operations,
                constraints: r.constraints,
                name: r.name,
            };
            let (token, id) = keys.create_grant(caller, &r.key_id, new, r.dry_run).await?;
            Ok(json!({ "GrantToken": token, "GrantId": id }))
        }
        "ListGrants" => {
            let r = parse!(ListGrants);
            let all = keys
                .list_grants(
                    caller,
                    &r.key_id,
                    r.grant_id.as_deref(),
                    r.grantee_principal.as_deref(),
                )
                .await?;
            let (page, next) = page(&all, &r.page, 100)?;
            Ok(paged(json!({ "Grants": page.iter().map(grant_json).collect::<Vec<_>>() }), next))
        }
        "ListRetirableGrants" => {
            let r = parse!(ListRetirable);
            let all = keys.retirable_grants(caller, &r.retiring_principal).await?;
            let (page, next) = page(&all, &r.page, 100)?;
            Ok(paged(json!({ "Grants": page.iter().map(grant_json).collect::<Vec<_>>() }), next))
        }
        "RetireGrant" => {
            let r = parse!(RetireGrant);
            let which = match (&r.grant_token, &r.key_id, &r.grant_id) {
                (Some(token), _, _) => GrantRef::Token(token),
                (None, Some(key_ref), Some(grant_id)) => GrantRef::Id { key_ref, grant_id },
                _ => {
                    let e = DomainError::invalid("give GrantToken, or KeyId and GrantId");
                    return keys.refuse(caller, operation, e).await;
                }
            };
            keys.retire_grant(caller, which, r.dry_run).await?;
            Ok(json!({}))
        }
        "RevokeGrant" => {
            let r = parse!(RevokeGrant);
            keys.revoke_grant(caller, &r.key_id, &r.grant_id, r.dry_run).await?;
            Ok(json!({}))
        }
        "Sign" | "Verify" => {
            let r = parse!(Signing);
            let message = match r.message_type.as_deref() {
                None | Some("RAW") => Message::Raw(&r.message.0),
                Some("DIGEST") => Message::Digest(&r.message.0),
                Some(other) => {
                    let e = DomainError::invalid(format!(
                        "MessageType must be RAW or DIGEST, not {other:?}"
                    ));
                    return keys.refuse(caller, operation, e).await;
                }
            };
            let algorithm = &r.signing_algorithm;
            if operation == "Sign" {
                let (arn, signature) =
                    keys.sign(caller, &r.key_id, algorithm, message, r.dry_run).await?;
                return Ok(json!({
                    "KeyId": arn, "Signature": STANDARD.encode(signature),
                    "SigningAlgorithm": algorithm,
                }));
            }
            let Some(signature) = &r.signature else {
                let e = DomainError::invalid("Signature is required");
                return keys.refuse(caller, operation, e).await;
            };
            let arn =
                keys.verify(caller, &r.key_id, algorithm, message, &signature.0, r.dry_run).await?;
            Ok(json!({ "KeyId": arn, "SignatureValid": true, "SigningAlgorithm": algorithm }))
        }
        "GenerateMac" | "VerifyMac" => {
            let r = parse!(Mac);
            let algorithm = &r.mac_algorithm;
            if operation == "GenerateMac" {
                let (arn, tag) = keys
                    .generate_mac(caller, &r.key_id, algorithm, &r.message.0, r.dry_run)
                    .await?;
                return Ok(json!({
                    "KeyId": arn, "Mac": STANDARD.encode(tag), "MacAlgorithm": algorithm,
                }));
            }
            let Some(tag) = &r.mac else {
                let e = DomainError::invalid("Mac is required");
                return keys.refuse(caller, operation, e).await;
            };
            let arn = keys
                .verify_mac(caller, &r.key_id, algorithm, &r.message.0, &tag.0, r.dry_run)
                .await?;
            Ok(json!({ "KeyId": arn, "MacValid": true, "MacAlgorithm": algorithm }))
        }
        "DeriveSharedSecret" => {
            let r = parse!(Derive);
            check!(no_recipient(r.recipient.as_ref()));
            let (arn, secret) = keys
                .derive_shared_secret(
                    caller,
                    &r.key_id,
                    &r.key_agreement_algorithm,
                    &r.public_key.0,
                    r.dry_run,
                )
                .await?;
            Ok(json!({
                "KeyId": arn, "SharedSecret": STANDARD.encode(secret.as_slice()),
                "KeyAgreementAlgorithm": r.key_agreement_algorithm, "KeyOrigin": "AWS_KMS",
            }))
        }
        "EnableKeyRotation" => {
            let r = parse!(EnableRotation);
            keys.enable_rotation(caller, &r.key_id, r.rotation_period_in_days).await?;
            Ok(json!({}))
        }
        "DisableKeyRotation" => {
            let r = parse!(KeyOnly);
            keys.disable_rotation(caller, &r.key_id).await?;
            Ok(json!({}))
        }
        "GetKeyRotationStatus" => {
            let r = parse!(KeyOnly);
            let status = keys.rotation_status(caller, &r.key_id).await?;
            let mut out = json!({
                "KeyId": status.key_arn, "KeyRotationEnabled": status.period_days.is_some(),
            });
            if let (Some(days), Some(next)) = (status.period_days, status.next) {
                out["RotationPeriodInDays"] = json!(days);
                out["NextRotationDate"] = json!(seconds(next));
            }
            Ok(out)
        }
        "RotateKeyOnDemand" => {
            let r = parse!(KeyOnly);
            Ok(json!({ "KeyId": keys.rotate_on_demand(caller, &r.key_id).await? }))
        }
        "ListKeyRotations" => {
            let r = parse!(ListKeyRotations);
            let include = r.include_key_material.as_deref();
            let (arn, entries) = keys.rotations(caller, &r.key_id, include).await?;
            let (page, next) = page(&entries, &r.page, 1000)?;
            let listed: Vec<Value> = page.iter().map(|e| rotation_json(&arn, e)).collect();
            Ok(paged(json!({ "Rotations": listed }), next))
        }
        "GetParametersForImport" => {
            let r = parse!(ParametersForImport);
            let offer = keys
                .import_parameters(caller, &r.key_id, &r.wrapping_algorithm, &r.wrapping_key_spec)
                .await?;
            Ok(json!({
                "KeyId": offer.key_arn, "ImportToken": STANDARD.encode(offer.token),
                "PublicKey": STANDARD.encode(offer.public_key),
                "ParametersValidTo": seconds(offer.valid_to),
            }))
        }
        "ImportKeyMaterial" => {
            let r = parse!(ImportMaterial);
            let token = match String::from_utf8(r.import_token.0.to_vec()) {
                Ok(t) => t,
                Err(_) => {
                    return keys.refuse(caller, operation, DomainError::InvalidImportToken).await;
                }
            };
            #[allow(clippy::cast_possible_truncation)]
            let valid_to = r.valid_to.map(|t| (t * 1000.0) as i64);
            let import = Import {
                token: &token,
                encrypted: &r.encrypted_key_material.0,
                expiration_model: r.expiration_model.as_deref(),
                valid_to,
                import_type: r.import_type.as_deref(),
                material_id: r.key_material_id.as_deref(),
                description: r.key_material_description.as_deref(),
            };
            Ok(material_json(keys.import_key_material(caller, &r.key_id, import).await?))
        }
        "DeleteImportedKeyMaterial" => {
            let r = parse!(DeleteImportedMaterial);
            let id = r.key_material_id.as_deref();
            Ok(material_json(keys.delete_imported_material(caller, &r.key_id, id).await?))
        }
        "ReplicateKey" => {
            let r = parse!(ReplicateKey);
            let tags = tag_map(r.tags);
            let policy = match r.policy.as_deref().map(policy_document).transpose() {
                Ok(p) => p,
                Err(e) => return keys.refuse(caller, operation, e).await,
            };
            let new = NewReplica {
                region: r.replica_region,
                policy,
                description: r.description.unwrap_or_default(),
                tags,
            };
            let (m, policy) = keys.replicate_key(caller, &r.key_id, new).await?;
            let text =
                serde_json::to_string(&policy).map_err(|e| DomainError::internal(e.to_string()))?;
            let tags: Vec<Value> =
                m.tags.iter().map(|(k, v)| json!({ "TagKey": k, "TagValue": v })).collect();
            Ok(json!({
                "ReplicaKeyMetadata": metadata(state, &m).await?, "ReplicaPolicy": text,
                "ReplicaTags": tags,
            }))
        }
        "UpdatePrimaryRegion" => {
            let r = parse!(UpdatePrimary);
            keys.update_primary_region(caller, &r.key_id, &r.primary_region).await?;
            Ok(json!({}))
        }
        known if KNOWN.contains(&known) => {
            let e = DomainError::Unsupported(format!("{known} is not supported yet"));
            keys.refuse(caller, operation, e).await
        }
        _ => {
            let e = DomainError::Unsupported(format!("no such operation {operation:?}"));
            keys.refuse(caller, operation, e).await
        }
    }
}

/// KMS operations this server does not implement yet (the README's table says which).
const KNOWN: [&str; 2] = ["CreateCustomKeyStore", "ConnectCustomKeyStore"];

async fn create_key(state: &AppState, caller: &Caller, r: CreateKey) -> Result<Value> {
    let keys = &state.keys;
    let refused = |e| keys.refuse::<Value>(caller, "CreateKey", e);
    if let Some(what) = [
        r.custom_key_store_id.as_ref().map(|_| "CustomKeyStoreId"),
        r.xks_key_id.as_ref().map(|_| "XksKeyId"),
    ]
    .into_iter()
    .flatten()
    .next()
    {
        return refused(DomainError::Unsupported(format!("{what} is not supported yet"))).await;
    }
    let origin = match r.origin.as_deref() {
        None | Some("AWS_KMS") => "AWS_KMS",
        Some("EXTERNAL") => "EXTERNAL",
        Some(o @ ("AWS_CLOUDHSM" | "EXTERNAL_KEY_STORE")) => {
            return refused(DomainError::Unsupported(format!("Origin {o} is not supported"))).await;
        }
        Some(o) => return refused(DomainError::invalid(format!("invalid Origin {o:?}"))).await,
    };
    let spec =
        r.key_spec.or(r.customer_master_key_spec).unwrap_or_else(|| "SYMMETRIC_DEFAULT".into());
    let policy = match r.policy.as_deref().map(policy_document).transpose() {
        // Without one, the policy AWS writes: the account (here, the admin) may do anything.
        Ok(None) => serde_json::to_value(aws_default_policy(keys.account())).ok(),
        Ok(p) => p,
        Err(e) => return refused(e).await,
    };
    let mut tags = BTreeMap::new();
    for t in r.tags {
        if tags.insert(t.tag_key.clone(), t.tag_value).is_some() {
            return refused(DomainError::Tag(format!("tag {:?} is given twice", t.tag_key))).await;
        }
    }
    let new = NewKey {
        key_spec: spec,
        key_usage: r.key_usage.unwrap_or_else(|| "ENCRYPT_DECRYPT".into()),
        description: r.description.unwrap_or_default(),
        tags,
        policy,
        alias: None,
        origin: origin.into(),
        multi_region: r.multi_region.unwrap_or(false),
    };
    let m = keys.create_key(caller, new).await?;
    Ok(json!({ "KeyMetadata": metadata(state, &m).await? }))
}

/// Refuses a Nitro Enclaves `Recipient`, which this server does not attest.
fn no_recipient(recipient: Option<&Value>) -> Result<()> {
    match recipient {
        Some(_) => {
            Err(DomainError::Unsupported("Recipient (Nitro Enclaves) is not supported".into()))
        }
        None => Ok(()),
    }
}

/// AWS's tag list as a map (a key given twice: the last value).
fn tag_map(tags: Vec<Tag>) -> BTreeMap<String, String> {
    tags.into_iter().map(|t| (t.tag_key, t.tag_value)).collect()
}

/// A key policy as PutKeyPolicy and CreateKey take it: JSON text (duplicate keys refused,
/// 32 KiB at most).
fn policy_document(text: &str) -> Result<Value> {
    let document: PolicyDocument = serde_json::from_str(text)
        .map_err(|e| DomainError::MalformedPolicy(format!("invalid policy: {e}")))?;
    Ok(document.0)
}

/// KMS keys have one policy, named `default`.
fn default_policy_name(name: Option<&str>) -> Result<()> {
    match name {
        None | Some("default") => Ok(()),
        Some(other) => Err(DomainError::NotFound(format!("no key policy named {other:?}"))),
    }
}

/// DescribeKey's KeyMetadata, with a multi-Region key's family.
async fn metadata(state: &AppState, m: &KeyMetadata) -> Result<Value> {
    let mut out = single_region_metadata(m);
    if let Some(id) = state.keys.current_material_id(m).await? {
        out["CurrentKeyMaterialId"] = json!(id);
    }
    if let Some(config) = state.keys.multi_region_config(m).await? {
        let arn_region = |(arn, region): &(String, String)| json!({ "Arn": arn, "Region": region });
        out["MultiRegion"] = Value::Bool(true);
        out["MultiRegionConfiguration"] = json!({
            "MultiRegionKeyType": config.key_type,
            "PrimaryKey": arn_region(&config.primary),
            "ReplicaKeys": config.replicas.iter().map(arn_region).collect::<Vec<_>>(),
        });
    }
    Ok(out)
}

/// ImportKeyMaterial's and DeleteImportedKeyMaterial's answer.
fn material_json(a: MaterialAnswer) -> Value {
    let mut out = json!({ "KeyId": a.key_arn });
    if let Some(id) = a.material_id {
        out["KeyMaterialId"] = json!(id);
    }
    out
}

/// A RotationsListEntry; of imported material with its import state, description and expiry.
fn rotation_json(key_arn: &str, e: &RotationEntry) -> Value {
    let mut out = json!({
        "KeyId": key_arn, "KeyMaterialId": e.material_id, "KeyMaterialState": e.state,
    });
    if let Some((date, kind)) = &e.rotated {
        out["RotationDate"] = json!(seconds(*date));
        out["RotationType"] = json!(kind);
    }
    if let Some(m) = &e.imported {
        out["KeyMaterialDescription"] = json!(m.description);
        let imported = if m.expiration_model.is_some() { "IMPORTED" } else { "PENDING_IMPORT" };
        out["ImportState"] = json!(imported);
        if let Some(model) = &m.expiration_model {
            out["ExpirationModel"] = json!(model);
        }
        if let Some(t) = m.valid_to {
            out["ValidTo"] = json!(seconds(t));
        }
    }
    out
}

/// KeyMetadata without the multi-Region family.
fn single_region_metadata(m: &KeyMetadata) -> Value {
    let mut out = json!({
        "AWSAccountId": m.account,
        "KeyId": m.key_id,
        "Arn": m.arn,
        "CreationDate": seconds(m.created_ms),
        "Enabled": m.key_state == "Enabled",
        "Description": m.description,
        "KeyUsage": m.key_usage,
        "KeyState": m.key_state,
        "Origin": m.origin,
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": m.key_spec,
        "KeySpec": m.key_spec,
        "MultiRegion": false,
    });
    algorithms(&mut out, m);
    if let Some(d) = m.deletion_ms {
        out["DeletionDate"] = json!(seconds(d));
    }
    if let Some(model) = &m.expiration_model {
        out["ExpirationModel"] = json!(model);
    }
    if let Some(t) = m.valid_to_ms {
        out["ValidTo"] = json!(seconds(t));
    }
    out
}

/// A grant as ListGrants shows it.
fn grant_json(g: &Grant) -> Value {
    let mut out = json!({
        "KeyId": g.key_arn,
        "GrantId": g.row.grant_id,
        "Name": g.row.name,
        "CreationDate": seconds(g.row.created_at),
        "GranteePrincipal": g.row.grantee,
        "IssuingAccount": g.row.issuer,
        "Operations": g.operations,
    });
    if let Some(r) = &g.row.retiring {
        out["RetiringPrincipal"] = json!(r);
    }
    if let Some(c) = &g.constraints {
        out["Constraints"] = json!(c);
    }
    out
}

/// The key's algorithms, in the members AWS uses (each present only when not empty).
fn algorithms(out: &mut Value, m: &KeyMetadata) {
    for (name, list) in [
        ("EncryptionAlgorithms", m.encryption_algorithms),
        ("SigningAlgorithms", m.signing_algorithms),
        ("MacAlgorithms", m.mac_algorithms),
        ("KeyAgreementAlgorithms", m.key_agreement_algorithms),
    ] {
        if !list.is_empty() {
            out[name] = json!(list);
        }
    }
}

fn sealed_json(s: &Sealed) -> Value {
    json!({
        "CiphertextBlob": STANDARD.encode(&s.blob),
        "KeyId": s.key_arn,
        "EncryptionAlgorithm": s.algorithm,
    })
}

/// Epoch seconds, as the JSON 1.1 protocol writes timestamps.
#[allow(clippy::cast_precision_loss)]
fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// Paging: `Limit` (1 to `max`, default `max` for lists of at most that, AWS's defaults
/// otherwise) and an opaque `Marker`, here the position of the next item.
fn page<'a, T>(all: &'a [T], page: &Page, max: usize) -> Result<(&'a [T], Option<String>)> {
    let limit = match page.limit {
        None => max.min(100),
        Some(n) if (1..=max).contains(&n) => n,
        Some(_) => return Err(DomainError::invalid(format!("Limit must be 1 to {max}"))),
    };
    let start = match &page.marker {
        None => 0,
        Some(m) => parse_marker(m).filter(|s| *s <= all.len()).ok_or(DomainError::InvalidMarker)?,
    };
    let end = (start + limit).min(all.len());
    let next = (end < all.len()).then(|| STANDARD.encode(format!("next:{end}")));
    Ok((&all[start..end], next))
}

fn parse_marker(m: &str) -> Option<usize> {
    let text = String::from_utf8(STANDARD.decode(m).ok()?).ok()?;
    text.strip_prefix("next:")?.parse().ok()
}

fn paged(mut out: Value, next: Option<String>) -> Value {
    out["Truncated"] = Value::Bool(next.is_some());
    if let Some(next) = next {
        out["NextMarker"] = Value::String(next);
    }
    out
}

fn parse<T: DeserializeOwned>(input: Value) -> Result<T> {
    serde_json::from_value(input).map_err(|e| DomainError::invalid(e.to_string()))
}

/// A base64 blob member (wiped on drop: it may be a plaintext).
#[derive(Debug, Default)]
struct Blob(Zeroizing<Vec<u8>>);

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        STANDARD
            .decode(text.as_bytes())
            .map(|b| Blob(Zeroizing::new(b)))
            .map_err(|_| serde::de::Error::custom("a blob member is not base64"))
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyOnly {
    key_id: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Page {
    limit: Option<usize>,
    marker: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct KeyPage {
    key_id: String,
    #[serde(flatten)]
    page: Page,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListAliases {
    key_id: Option<String>,
    #[serde(flatten)]
    page: Page,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Tag {
    tag_key: String,
    tag_value: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateKey {
    policy: Option<String>,
    description: Option<String>,
    key_usage: Option<String>,
    customer_master_key_spec: Option<String>,
    key_spec: Option<String>,
    origin: Option<String>,
    custom_key_store_id: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
    multi_region: Option<bool>,
    xks_key_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateDescription {
    key_id: String,
    description: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ScheduleDeletion {
    key_id: String,
    pending_window_in_days: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Encrypt {
    key_id: String,
    plaintext: Blob,
    #[serde(default)]
    encryption_context: Context,
    encryption_algorithm: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Decrypt {
    ciphertext_blob: Blob,
    #[serde(default)]
    encryption_context: Context,
    key_id: Option<String>,
    encryption_algorithm: Option<String>,
    recipient: Option<Value>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReEncrypt {
    ciphertext_blob: Blob,
    #[serde(default)]
    source_encryption_context: Context,
    source_key_id: Option<String>,
    destination_key_id: String,
    #[serde(default)]
    destination_encryption_context: Context,
    source_encryption_algorithm: Option<String>,
    destination_encryption_algorithm: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GenerateDataKey {
    key_id: String,
    #[serde(default)]
    encryption_context: Context,
    number_of_bytes: Option<usize>,
    key_spec: Option<String>,
    recipient: Option<Value>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GenerateRandom {
    number_of_bytes: Option<usize>,
    custom_key_store_id: Option<String>,
    recipient: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliasTarget {
    alias_name: String,
    target_key_id: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AliasOnly {
    alias_name: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct TagResource {
    key_id: String,
    tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UntagResource {
    key_id: String,
    tag_keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PolicyName {
    key_id: String,
    policy_name: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PutKeyPolicy {
    key_id: String,
    policy_name: Option<String>,
    policy: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct CreateGrant {
    key_id: String,
    grantee_principal: String,
    retiring_principal: Option<String>,
    operations: Vec<String>,
    constraints: Option<Constraints>,
    name: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListGrants {
    key_id: String,
    grant_id: Option<String>,
    grantee_principal: Option<String>,
    #[serde(flatten)]
    page: Page,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListRetirable {
    retiring_principal: String,
    #[serde(flatten)]
    page: Page,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RetireGrant {
    grant_token: Option<String>,
    key_id: Option<String>,
    grant_id: Option<String>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RevokeGrant {
    key_id: String,
    grant_id: String,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Signing {
    key_id: String,
    message: Blob,
    message_type: Option<String>,
    signing_algorithm: String,
    signature: Option<Blob>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Mac {
    key_id: String,
    message: Blob,
    mac_algorithm: String,
    mac: Option<Blob>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Derive {
    key_id: String,
    key_agreement_algorithm: String,
    public_key: Blob,
    recipient: Option<Value>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EnableRotation {
    key_id: String,
    rotation_period_in_days: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct GenerateDataKeyPair {
    key_id: String,
    key_pair_spec: String,
    #[serde(default)]
    encryption_context: Context,
    recipient: Option<Value>,
    #[serde(default)]
    dry_run: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ParametersForImport {
    key_id: String,
    wrapping_algorithm: String,
    wrapping_key_spec: String,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ImportMaterial {
    key_id: String,
    import_token: Blob,
    encrypted_key_material: Blob,
    /// Epoch seconds, as the JSON 1.1 protocol writes timestamps.
    valid_to: Option<f64>,
    expiration_model: Option<String>,
    import_type: Option<String>,
    key_material_id: Option<String>,
    key_material_description: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DeleteImportedMaterial {
    key_id: String,
    key_material_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListKeyRotations {
    key_id: String,
    include_key_material: Option<String>,
    #[serde(flatten)]
    page: Page,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ReplicateKey {
    key_id: String,
    replica_region: String,
    policy: Option<String>,
    description: Option<String>,
    #[serde(default)]
    tags: Vec<Tag>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdatePrimary {
    key_id: String,
    primary_region: String,
}
