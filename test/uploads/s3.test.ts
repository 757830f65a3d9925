import { runUploadSuite } from "./uploads.suite.js";

// Issue 6 end to end on the S3 file store, against s3rver (test/fakes/s3-server.ts) on 127.0.0.1.
runUploadSuite("s3");
