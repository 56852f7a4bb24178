//! Field numbers are the wire contract: these tests pin the ones that are easy to get wrong.

use crate::mixer::{
    attributes::{attribute_value::Value, AttributeValue},
    check_response::PreconditionResult,
    report_request::RepeatedAttributesSemantics,
    CheckResponse, CompressedAttributes, ReportRequest,
};
use prost::Message;

#[test]
fn attribute_value_starts_at_field_two() {
    let v = AttributeValue {
        value: Some(Value::StringValue("a".into())),
    };
    // field 2, wire type 2 (length-delimited) => tag byte 0x12
    assert_eq!(v.encode_to_vec(), vec![0x12, 1, b'a']);
}

#[test]
fn compressed_attribute_keys_are_zigzag() {
    let mut c = CompressedAttributes::default();
    c.strings.insert(-1, 3);
    // field 2 entry { key (sint32 -1 => zigzag 1), value (sint32 3 => zigzag 6) }
    assert_eq!(c.encode_to_vec(), vec![0x12, 4, 0x08, 1, 0x10, 6]);
}

#[test]
fn precondition_is_field_two_and_referenced_is_five() {
    let r = CheckResponse {
        precondition: Some(PreconditionResult {
            referenced_attributes: Some(Default::default()),
            ..Default::default()
        }),
        quotas: Default::default(),
    };
    // field 2 { field 5 {} }
    assert_eq!(r.encode_to_vec(), vec![0x12, 2, 0x2a, 0]);
}

#[test]
fn report_semantics_is_field_four() {
    let r = ReportRequest {
        repeated_attributes_semantics: RepeatedAttributesSemantics::IndependentEncoding as i32,
        global_word_count: 222,
        ..Default::default()
    };
    assert_eq!(r.encode_to_vec(), vec![0x18, 222, 1, 0x20, 1]);
}
