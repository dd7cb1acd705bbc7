//! Bad input gets an error that names the problem; the network keeps going.

mod common;

use common::*;
use labrpc::{RpcError, Service};

#[test]
fn unknown_service_lists_the_services() {
    let (net, end) = math_network();
    let err = end.call::<u64, u64>("Maths.Double", &1).unwrap_err();
    assert_eq!(
        err,
        RpcError::UnknownService {
            service: "Maths".into(),
            available: vec!["Math".into()]
        }
    );
    assert!(err.to_string().contains("Math"), "{err}");
    net.cleanup();
}

#[test]
fn unknown_method_lists_the_valid_methods() {
    let (net, end) = math_network();
    let err = end.call::<u64, u64>("Math.Triple", &1).unwrap_err();
    let RpcError::UnknownMethod {
        method, available, ..
    } = &err
    else {
        panic!("expected UnknownMethod, got {err:?}");
    };
    assert_eq!(method, "Triple");
    assert_eq!(available, &["Concat", "Double", "Null", "Sum"]);
    assert!(
        err.to_string().contains("Concat, Double, Null, Sum"),
        "{err}"
    );
    assert_eq!(end.call::<u64, u64>("Math.Double", &3), Ok(6));
    net.cleanup();
}

#[test]
fn method_name_without_a_service_is_rejected() {
    let (net, end) = math_network();
    for bad in ["Double", ".Double", "Math."] {
        assert_eq!(
            end.call::<u64, u64>(bad, &1),
            Err(RpcError::BadMethodName(bad.into()))
        );
    }
    net.cleanup();
}

#[test]
fn undecodable_arguments_are_reported() {
    let (net, end) = math_network();
    // An empty request cannot be a u64.
    let err = end.call::<(), u64>("Math.Double", &()).unwrap_err();
    assert!(
        matches!(&err, RpcError::DecodeArgs { method, .. } if method == "Math.Double"),
        "{err:?}"
    );
    assert_eq!(end.call::<u64, u64>("Math.Double", &5), Ok(10));
    net.cleanup();
}

#[test]
fn undecodable_reply_is_reported() {
    let (net, end) = math_network();
    // The reply () is empty, so it cannot be a String.
    let err = end.call::<(), String>("Math.Null", &()).unwrap_err();
    assert!(matches!(err, RpcError::DecodeReply { .. }), "{err:?}");
    net.cleanup();
}

#[test]
fn panicking_handler_fails_only_its_call() {
    let crashy = Service::new("Crashy").handle("Divide", |(a, b): (u32, u32)| {
        if b == 0 {
            panic!("division of {a} by zero");
        }
        a / b
    });
    let net = network_with(10, vec![crashy]);
    let end = end_to_server(&net, "client");
    let err = end
        .call::<_, u32>("Crashy.Divide", &(7u32, 0u32))
        .unwrap_err();
    assert_eq!(
        err,
        RpcError::HandlerPanicked {
            method: "Crashy.Divide".into(),
            message: "division of 7 by zero".into()
        }
    );
    assert_eq!(end.call::<_, u32>("Crashy.Divide", &(8u32, 2u32)), Ok(4));
    net.cleanup();
}

#[test]
fn network_faults_are_told_apart_from_mistakes() {
    assert!(RpcError::Unreachable.is_network_fault());
    assert!(RpcError::ServerGone.is_network_fault());
    assert!(!RpcError::BadMethodName("x".into()).is_network_fault());
}
