import { runUploadSuite } from "./uploads.suite.js";

// Issue 6 end to end on the local-disk file store (embedded mode).
runUploadSuite("local");
