// Camera and light for one face, with gl-matrix: the head turns (azimuth) and the camera orbits
// (elevation) about HEAD_PIVOT; the renderer gets the inverse model-view-projection matrix, the
// eye and the light direction in the head frame, so rays are traced without per-step transforms.
import { mat4, vec4 } from 'gl-matrix';
import { HEAD_PIVOT, LIGHT_ELEVATION } from './face-model.js';

/** Distance of the camera from the pivot, in head units (decimetres): a 90 cm portrait lens. */
export const CAMERA_DISTANCE = 9;
/** Half the height of the view at the pivot's depth, in head units. */
export const VIEW_HALF_EXTENT = 1.58;
export const FOVY = 2 * Math.atan(VIEW_HALF_EXTENT / CAMERA_DISTANCE);

export interface FaceCamera {
  /** inverse(projection * view * model), column-major: clip space to head frame. */
  invViewProj: Float32Array;
  /** Camera position in the head frame. */
  eye: [number, number, number];
  /** Unit vector towards the light, in the head frame. */
  light: [number, number, number];
  /** Angle subtended by one pixel (radians), for the tracer's hit tolerance. */
  pixelAngle: number;
}

export function faceCamera(azimuth: number, elevation: number, lightAzimuth: number, size: number): FaceCamera {
  const model = mat4.create();
  mat4.rotateX(model, model, -elevation);
  mat4.rotateY(model, model, azimuth);
  mat4.translate(model, model, [-HEAD_PIVOT[0], -HEAD_PIVOT[1], -HEAD_PIVOT[2]]);
  const view = mat4.lookAt(mat4.create(), [0, 0, CAMERA_DISTANCE], [0, 0, 0], [0, 1, 0]);
  const proj = mat4.perspective(mat4.create(), FOVY, 1, CAMERA_DISTANCE - 3, CAMERA_DISTANCE + 3);
  const mvp = mat4.multiply(mat4.create(), proj, mat4.multiply(mat4.create(), view, model));
  const invViewProj = mat4.invert(mat4.create(), mvp);
  const invModel = mat4.invert(mat4.create(), model);
  if (!invViewProj || !invModel) throw new Error('faceCamera: singular camera matrix');
  const eye = vec4.transformMat4(vec4.create(), [0, 0, CAMERA_DISTANCE, 1], invModel);
  const ce = Math.cos(LIGHT_ELEVATION);
  const toLight = [Math.sin(lightAzimuth) * ce, Math.sin(LIGHT_ELEVATION), Math.cos(lightAzimuth) * ce, 0] as const;
  const light = vec4.transformMat4(vec4.create(), toLight, invModel);
  return {
    invViewProj: invViewProj as Float32Array,
    eye: [eye[0]!, eye[1]!, eye[2]!],
    light: [light[0]!, light[1]!, light[2]!],
    pixelAngle: (2 * Math.tan(FOVY / 2)) / size,
  };
}
