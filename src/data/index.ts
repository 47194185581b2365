// Training data, browser-safe: the morphable face model, its GPU renderer, batch sampling and
// image helpers. Node code that reads image files imports src/data/images-node.ts as well.
export {
  SHAPE_DIM, TEXTURE_DIM, AZIMUTH_RANGE, ELEVATION_RANGE, LIGHT_RANGE, LIGHT_ELEVATION, AMBIENT,
  SHAPE_MEANING, TEXTURE_MEANING, faceShape, faceGeometry, faceAlbedo, type FaceParams,
} from './face-model.js';
export { faceCamera, CAMERA_DISTANCE, FOVY, type FaceCamera } from './camera.js';
export { renderFaces, packFaces, FACE_RECORD_FLOATS, type RenderOptions } from './render.js';
export {
  BATCH_TYPES, CLAMPED_TYPES, DEFAULT_BATCH_SIZE, activeGroup, checkBatchType, sampleBatch, sampleIdentity, renderBatch,
  trainingBatch, testSet, type BatchType, type BatchSpec, type FaceBatch, type Identity, type RenderBatchOptions,
  type StreamOptions, type TestSetOptions,
} from './batches.js';
export { toModelImage, contactSheet, toBytes, type RawImage, type GrayImage } from './images.js';
export { Rng } from './rng.js';
