// The VS Code client of `fusec lsp`: starts the server for .fuse files and shows the embedded standard library's
// virtual documents (URIs `fusec-std:/std/<module>.fuse`, which go-to-definition and diagnostics point into) by
// asking the server for their text (`fusec/stdlibSource`).
"use strict";

const vscode = require("vscode");
const { LanguageClient } = require("vscode-languageclient/node");

let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("fusec");
  const command = config.get("path", "fusec");
  const args = [...config.get("extraArgs", []), "lsp"];
  const serverOptions = { command, args };
  const clientOptions = {
    documentSelector: [
      { scheme: "file", language: "fuse" },
      { scheme: "untitled", language: "fuse" },
      { scheme: "fusec-std", language: "fuse" },
    ],
  };
  client = new LanguageClient("fusec", "fusec language server", serverOptions, clientOptions);
  const stdlib = {
    provideTextDocumentContent(uri) {
      return client.sendRequest("fusec/stdlibSource", { uri: uri.toString() });
    },
  };
  context.subscriptions.push(
    vscode.workspace.registerTextDocumentContentProvider("fusec-std", stdlib)
  );
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
