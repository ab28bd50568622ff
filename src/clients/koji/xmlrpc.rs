//! XML-RPC as Koji speaks it.
//!
//! dxr reads and writes the XML; this module adds Koji's conventions: keyword
//! arguments travel as a trailing struct marked `__starstar`, `None` is `<nil/>`,
//! and integers beyond 32 bits are `<i8>`. Values cross this boundary as JSON
//! values, because the rest of the code (and the fixtures) speak JSON.

use dxr::{Fault, FaultResponse, MethodCall, MethodResponse, Value};
use serde_json::{Map, Number, Value as Json};
use std::borrow::Cow;

/// The struct member that marks a trailing struct as keyword arguments.
pub const KEYWORD_ARGUMENTS_MARKER: &str = "__starstar";

#[derive(Debug, thiserror::Error)]
pub enum XmlRpcError {
    #[error("malformed XML-RPC document: {0}")]
    Malformed(String),
    #[error("value cannot be sent over XML-RPC: {0}")]
    Unrepresentable(String),
}

/// A method call as the hub sees it: positional and keyword arguments apart.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedCall {
    pub method: String,
    pub args: Vec<Json>,
    pub kwargs: Map<String, Json>,
}

pub fn encode_call(
    method: &str,
    args: &[Json],
    kwargs: &Map<String, Json>,
) -> Result<String, XmlRpcError> {
    let mut params = args
        .iter()
        .map(json_to_xmlrpc)
        .collect::<Result<Vec<_>, _>>()?;
    if !kwargs.is_empty() {
        let mut keyword_struct = kwargs.clone();
        keyword_struct.insert(KEYWORD_ARGUMENTS_MARKER.to_owned(), Json::Bool(true));
        params.push(json_to_xmlrpc(&Json::Object(keyword_struct))?);
    }
    let call = MethodCall {
        name: Cow::Borrowed(method),
        params,
    };
    call.to_xml()
        .map_err(|error| XmlRpcError::Unrepresentable(error.to_string()))
}

pub fn decode_call(xml: &str) -> Result<DecodedCall, XmlRpcError> {
    let call =
        MethodCall::from_xml(strip_xml_declaration(xml)).map_err(|error| malformed(&error, xml))?;
    let mut args: Vec<Json> = call.params.iter().map(xmlrpc_to_json).collect();
    let kwargs = match args.last() {
        Some(Json::Object(last))
            if last.get(KEYWORD_ARGUMENTS_MARKER) == Some(&Json::Bool(true)) =>
        {
            let mut kwargs = last.clone();
            kwargs.remove(KEYWORD_ARGUMENTS_MARKER);
            args.pop();
            kwargs
        }
        _ => Map::new(),
    };
    Ok(DecodedCall {
        method: call.name.into_owned(),
        args,
        kwargs,
    })
}

pub fn encode_response(result: &Json) -> Result<String, XmlRpcError> {
    let response = MethodResponse {
        value: json_to_xmlrpc(result)?,
    };
    response
        .to_xml()
        .map_err(|error| XmlRpcError::Unrepresentable(error.to_string()))
}

pub fn encode_fault(code: i32, text: &str) -> Result<String, XmlRpcError> {
    let response = FaultResponse {
        fault: Fault::new(code, text.to_owned()),
    };
    response
        .to_xml()
        .map_err(|error| XmlRpcError::Unrepresentable(error.to_string()))
}

/// Reads a methodResponse: the outer `Err` is a broken document, the inner one a fault.
pub fn decode_response(xml: &str) -> Result<Result<Json, Fault>, XmlRpcError> {
    let xml = strip_xml_declaration(xml);
    if xml.contains("<fault>") {
        let fault = FaultResponse::from_xml(xml).map_err(|error| malformed(&error, xml))?;
        return Ok(Err(fault.fault));
    }
    let response = MethodResponse::from_xml(xml).map_err(|error| malformed(&error, xml))?;
    Ok(Ok(xmlrpc_to_json(&response.value)))
}

/// How much of a malformed document its error quotes, in bytes once escaped.
const QUOTED_DOCUMENT_BYTES: usize = 120;

/// dxr's error for a document it cannot read is the whole document, which may be megabytes
/// of whatever answered (an HTML error page, a truncated body): the error names its size and
/// quotes only its start, escaped.
fn malformed(error: &dxr::Error, xml: &str) -> XmlRpcError {
    if !error.is_invalid_data() {
        return XmlRpcError::Malformed(error.to_string());
    }
    let mut start = String::new();
    for character in xml.trim_start().chars() {
        let escaped = character.escape_debug().to_string();
        if start.len() + escaped.len() > QUOTED_DOCUMENT_BYTES {
            start.push('…');
            break;
        }
        start.push_str(&escaped);
    }
    XmlRpcError::Malformed(format!(
        "{} bytes that do not read as XML-RPC, starting \"{start}\"",
        xml.len()
    ))
}

/// Python's xmlrpc starts documents with `<?xml version='1.0'?>`, which the
/// deserializer does not expect in front of the root element.
fn strip_xml_declaration(xml: &str) -> &str {
    let trimmed = xml.trim_start();
    match trimmed.strip_prefix("<?xml") {
        Some(rest) => rest
            .find("?>")
            .map_or(trimmed, |end| rest[end + 2..].trim_start()),
        None => trimmed,
    }
}

pub fn json_to_xmlrpc(json: &Json) -> Result<Value, XmlRpcError> {
    Ok(match json {
        Json::Null => Value::Nil,
        Json::Bool(flag) => Value::Boolean(*flag),
        Json::Number(number) => number_to_xmlrpc(number)?,
        Json::String(text) => Value::String(text.clone()),
        Json::Array(items) => {
            Value::Array(items.iter().map(json_to_xmlrpc).collect::<Result<_, _>>()?)
        }
        Json::Object(members) => Value::Struct(
            members
                .iter()
                .map(|(name, value)| Ok((name.clone(), json_to_xmlrpc(value)?)))
                .collect::<Result<_, XmlRpcError>>()?,
        ),
    })
}

fn number_to_xmlrpc(number: &Number) -> Result<Value, XmlRpcError> {
    if let Some(integer) = number.as_i64() {
        return Ok(match i32::try_from(integer) {
            Ok(small) => Value::Integer(small),
            Err(_) => Value::Long(integer),
        });
    }
    if number.is_u64() {
        return Err(XmlRpcError::Unrepresentable(format!(
            "{number} exceeds the i8 range"
        )));
    }
    number
        .as_f64()
        .map(Value::Double)
        .ok_or_else(|| XmlRpcError::Unrepresentable(number.to_string()))
}

pub fn xmlrpc_to_json(value: &Value) -> Json {
    match value {
        Value::Integer(integer) => Json::from(*integer),
        Value::Long(integer) => Json::from(*integer),
        Value::Boolean(flag) => Json::Bool(*flag),
        Value::String(text) => Json::String(text.clone()),
        Value::Double(float) => Number::from_f64(*float).map_or(Json::Null, Json::Number),
        Value::DateTime(moment) => Json::String(moment.to_string()),
        Value::Base64(bytes) => Json::Array(bytes.iter().map(|byte| Json::from(*byte)).collect()),
        Value::Struct(members) => Json::Object(
            members
                .iter()
                .map(|(name, value)| (name.clone(), xmlrpc_to_json(value)))
                .collect(),
        ),
        Value::Array(items) => Json::Array(items.iter().map(xmlrpc_to_json).collect()),
        Value::Nil => Json::Null,
        // dxr's Value is non-exhaustive; a future kind has no JSON meaning yet.
        _ => Json::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keyword_arguments_become_a_trailing_starstar_struct() {
        let kwargs = json!({"request": true});
        let xml = encode_call("getTaskInfo", &[json!(123)], kwargs.as_object().unwrap()).unwrap();
        assert_eq!(
            xml,
            "<methodCall><methodName>getTaskInfo</methodName><params>\
             <param><value><i4>123</i4></value></param>\
             <param><value><struct>\
             <member><name>__starstar</name><value><boolean>1</boolean></value></member>\
             <member><name>request</name><value><boolean>1</boolean></value></member>\
             </struct></value></param></params></methodCall>"
        );
        let decoded = decode_call(&xml).unwrap();
        assert_eq!(decoded.args, vec![json!(123)]);
        assert_eq!(decoded.kwargs, *kwargs.as_object().unwrap());
    }

    #[test]
    fn large_integers_use_i8_and_none_uses_nil() {
        let xml = encode_response(&json!([4_294_967_296_i64, null, 7])).unwrap();
        assert!(xml.contains("<i8>4294967296</i8>"), "{xml}");
        assert!(xml.contains("<nil></nil>"), "{xml}");
        assert_eq!(
            decode_response(&xml).unwrap().unwrap(),
            json!([4_294_967_296_i64, null, 7])
        );
    }

    #[test]
    fn reads_python_style_documents() {
        let python = "<?xml version='1.0'?>\n<methodResponse>\n<params>\n<param>\n\
            <value><struct>\n<member>\n<name>id</name>\n<value><int>42</int></value>\n</member>\n\
            <member>\n<name>label</name>\n<value><nil/></value></member>\n\
            <member>\n<name>arch</name>\n<value><string>noarch</string></value>\n</member>\n\
            <member>\n<name>weight</name>\n<value><double>0.2</double></value>\n</member>\n\
            </struct></value>\n</param>\n</params>\n</methodResponse>\n";
        let value = decode_response(python).unwrap().unwrap();
        assert_eq!(
            value,
            json!({"id": 42, "label": null, "arch": "noarch", "weight": 0.2})
        );
    }

    #[test]
    fn a_malformed_document_is_quoted_briefly() {
        let page = format!(
            "<html><body>{}</body></html>",
            "Bad gateway. ".repeat(10_000)
        );
        let error = decode_response(&page).unwrap_err().to_string();
        assert!(error.len() < 300, "{error}");
        assert!(error.contains(&format!("{} bytes", page.len())), "{error}");
        assert!(error.contains("<html><body>Bad gateway."), "{error}");
        let error = decode_call("<methodCall>").unwrap_err().to_string();
        assert!(error.contains("\"<methodCall>\""), "{error}");
        let controls = format!("<x{}", "\u{16}".repeat(1_000));
        let error = decode_call(&controls).unwrap_err().to_string();
        assert!(error.len() < 250, "{error}");
        assert!(error.contains(r#"starting "<x\u{16}"#), "{error}");
    }

    #[test]
    fn reads_faults() {
        let python = "<?xml version='1.0'?>\n<methodResponse>\n<fault>\n<value><struct>\n\
            <member>\n<name>faultCode</name>\n<value><int>1007</int></value>\n</member>\n\
            <member>\n<name>faultString</name>\n<value><string>session \"1\" has expired</string></value>\n</member>\n\
            </struct></value>\n</fault>\n</methodResponse>\n";
        let fault = decode_response(python).unwrap().unwrap_err();
        assert_eq!(fault.code(), 1007);
        assert_eq!(fault.string(), "session \"1\" has expired");
    }
}
