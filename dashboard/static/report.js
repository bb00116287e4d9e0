// The report's Print button (inline scripts are avoided so a strict CSP stays possible).
"use strict";
document.getElementById("print").addEventListener("click", () => window.print());
