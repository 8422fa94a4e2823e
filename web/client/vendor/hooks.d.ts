// Types for the vendored copy: those of the npm package it was copied from.
export * from "preact/hooks";
